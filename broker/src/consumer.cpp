#include "celeriac/broker/consumer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "celeriac/broker/amqp_message.hpp"

namespace celeriac::broker {

std::string body_too_large(std::uint64_t size, std::size_t limit) {
  return DecodeError("body", fmt::format("{} bytes exceeds the limit of {} bytes (dropped unread)",
                                         size, limit))
      .what();
}

std::string_view to_string(SubscriptionStatus status) {
  switch (status) {
    case SubscriptionStatus::Pending:
      return "pending";
    case SubscriptionStatus::Subscribed:
      return "subscribed";
    case SubscriptionStatus::Retrying:
      return "retrying";
    case SubscriptionStatus::Cancelled:
      return "cancelled";
  }
  return "?";
}

Consumer::Consumer(Connection& connection, amqp_channel_t channel, ConsumerOptions options)
    : connection_(connection), channel_(channel), options_(std::move(options)) {
  retry_timer_ = new uv_timer_t;
  uv_timer_init(connection_.loop(), retry_timer_);
  retry_timer_->data = this;
  flush_check_ = new uv_check_t;
  uv_check_init(connection_.loop(), flush_check_);
  flush_check_->data = this;
}

Consumer::~Consumer() {
  uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(flush_check_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
}

void Consumer::start(std::vector<std::string> queues, std::uint16_t prefetch,
                     DeliveryHandler handler) {
  configure(std::move(queues), prefetch, std::move(handler));
  restart();
}

void Consumer::configure(std::vector<std::string> queues, std::uint16_t prefetch,
                         DeliveryHandler handler) {
  stop_retrying();
  queues_.clear();
  for (auto& name : queues)
    queues_.push_back(
        Queue{Subscription{std::move(name), SubscriptionStatus::Pending, {}, 0}, {}, false});
  prefetch_ = std::max<std::uint16_t>(prefetch, 1);
  handler_ = std::move(handler);
}

void Consumer::cancel() {
  stop_retrying();
  for (auto& queue : queues_) {
    if (connection_.is_open() && !queue.tag.empty()) {
      amqp_basic_cancel(connection_.native(), channel_, bytes_view(queue.tag));
      connection_.check_reply(channel_, "basic.cancel");
    }
    queue.tag.clear();
    queue.state = Subscription{queue.state.queue, SubscriptionStatus::Cancelled, {}, 0};
  }
}

bool Consumer::channel_current() const {
  return connection_.is_open() && channel_generation_ == connection_.generation();
}

bool Consumer::current(const Delivery& delivery) const {
  return channel_current() && delivery.generation == epoch_ && outstanding_.contains(delivery.tag);
}

bool Consumer::ack(const Delivery& delivery, bool multiple) {
  if (!current(delivery)) return false;
  if (multiple) {
    for (auto it = outstanding_.begin(); it != outstanding_.end() && *it <= delivery.tag;
         it = outstanding_.erase(it))
      owed_.push_back(*it);
  } else {
    outstanding_.erase(delivery.tag);
    owed_.push_back(delivery.tag);
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(flush_check_))) {
    uv_check_start(flush_check_, [](uv_check_t* check) {
      try {
        static_cast<Consumer*>(check->data)->flush_acks();
      } catch (const std::exception& e) { // a libuv callback: nothing may escape
        spdlog::warn("broker: sending acks failed: {}", e.what());
      }
    });
  }
  return true;
}

void Consumer::flush_acks() {
  uv_check_stop(flush_check_);
  // Two vectors that trade places keep their capacity: a fresh one grew by
  // doubling every iteration, into a block past glibc's small sizes, and each
  // such request first merges every free fast chunk of the arena.
  std::vector<std::uint64_t>& owed = flushing_;
  owed.clear();
  owed.swap(owed_);
  if (owed.empty() || !channel_current()) return; // a closed channel: the broker requeued them
  std::sort(owed.begin(), owed.end());
  // One multiple ack covers every owed tag below the lowest still outstanding:
  // the broker settles all of ours up to it, and nothing else of ours is there.
  const std::uint64_t lowest =
      outstanding_.empty() ? std::numeric_limits<std::uint64_t>::max() : *outstanding_.begin();
  const auto below = std::lower_bound(owed.begin(), owed.end(), lowest);
  auto send = [&](std::uint64_t tag, bool multiple) {
    ++ack_frames_;
    return connection_.check_status(
        amqp_basic_ack(connection_.native(), channel_, tag, multiple ? 1 : 0), "basic.ack");
  };
  if (below != owed.begin() && !send(*(below - 1), below - owed.begin() > 1)) return;
  for (auto it = below; it != owed.end(); ++it)
    if (!send(*it, false)) return;
  acked_ += owed.size();
}

bool Consumer::reject(const Delivery& delivery, bool requeue) {
  if (!current(delivery)) return false;
  outstanding_.erase(delivery.tag);
  return connection_.check_status(
      amqp_basic_reject(connection_.native(), channel_, delivery.tag, requeue ? 1 : 0),
      "basic.reject");
}

// The rank of the queue CONSUMER_TAG consumes, or the number of queues if none does now.
int Consumer::preference_of(const std::string& consumer_tag) const {
  auto it = std::find_if(queues_.begin(), queues_.end(),
                         [&](const Queue& q) { return q.tag == consumer_tag; });
  return static_cast<int>(it - queues_.begin());
}

void Consumer::on_message(InboundMessage&& message) {
  // A delivery the old channel sent before it closed (rabbitmq-c held it during
  // the close RPC): the broker has requeued it, and its tag means nothing now.
  if (!epoch_tags_.contains(message.consumer_tag)) return;
  Delivery d;
  d.tag = message.delivery_tag;
  d.generation = epoch_;
  outstanding_.insert(d.tag);
  d.redelivered = message.redelivered;
  d.preference = preference_of(message.consumer_tag);
  const auto index = static_cast<std::size_t>(d.preference);
  d.queue = index < queues_.size() ? queues_[index].state.queue : message.routing_key;
  d.raw = std::move(message.message);
  if (message.body_dropped || message.body_size > options_.limits.max_body_bytes) {
    d.raw.body.clear();
    d.error = body_too_large(message.body_size, options_.limits.max_body_bytes);
  } else {
    try {
      d.job = decode_job(d.raw, d.queue, options_.limits);
    } catch (const DecodeError& e) {
      d.error = e.what();
    }
  }
  if (handler_) handler_(std::move(d));
}

void Consumer::on_method(const amqp_method_t& method) {
  if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    // The Connection has answered close-ok; the broker requeued our unacked deliveries.
    const auto* close = static_cast<amqp_channel_close_t*>(method.decoded);
    spdlog::error("broker closed the consumer channel: {} {}; subscribing again", close->reply_code,
                  to_string(close->reply_text));
    channel_generation_ = 0; // closed already: open without closing
    try {
      subscribe_all();
    } catch (const InfrastructureError& e) { // the connection is lost: the reconnect subscribes
      spdlog::warn("consumer: subscribing again failed: {}", e.what());
    }
    return;
  }
  if (method.id == AMQP_BASIC_CANCEL_METHOD) on_broker_cancel(method);
}

} // namespace celeriac::broker
