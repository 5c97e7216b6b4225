#include "celeriac/broker/consumer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "celeriac/broker/amqp_message.hpp"

namespace celeriac::broker {

std::string body_too_large(std::uint64_t size, std::size_t limit) {
  return DecodeError("body", fmt::format("{} bytes exceeds the limit of {} bytes (dropped unread)",
                                         size, limit))
      .what();
}

Consumer::Consumer(Connection& connection, amqp_channel_t channel, CodecLimits limits)
    : connection_(connection), channel_(channel), limits_(limits) {}

void Consumer::start(std::vector<std::string> queues, std::uint16_t prefetch,
                     DeliveryHandler handler) {
  configure(std::move(queues), prefetch, std::move(handler));
  restart();
}

void Consumer::configure(std::vector<std::string> queues, std::uint16_t prefetch,
                         DeliveryHandler handler) {
  queues_ = std::move(queues);
  prefetch_ = std::max<std::uint16_t>(prefetch, 1);
  handler_ = std::move(handler);
}

// A channel opened on this connection is closed first: opening it twice is a
// connection error (504).
void Consumer::open_fresh_channel() {
  if (channel_generation_ == connection_.generation() && connection_.is_open()) {
    amqp_channel_close(connection_.native(), channel_, AMQP_REPLY_SUCCESS);
    connection_.check_reply(channel_, "channel.close");
  }
  connection_.open_channel(channel_);
  channel_generation_ = connection_.generation();
}

void Consumer::restart() {
  tags_.clear();
  epoch_tags_.clear();
  outstanding_.clear();
  ++epoch_;
  open_fresh_channel();
  amqp_basic_qos(connection_.native(), channel_, 0, prefetch_, 0);
  connection_.check_reply(channel_, "basic.qos");
  for (const auto& queue : queues_) {
    const amqp_basic_consume_ok_t* ok =
        amqp_basic_consume(connection_.native(), channel_, bytes_view(queue), amqp_empty_bytes, 0,
                           0, 0, amqp_empty_table);
    connection_.check_reply(channel_, "basic.consume");
    tags_.push_back(to_string(ok->consumer_tag));
    epoch_tags_.insert(tags_.back());
  }
}

void Consumer::cancel() {
  if (!connection_.is_open()) return;
  for (const auto& tag : tags_) {
    amqp_basic_cancel(connection_.native(), channel_, bytes_view(tag));
    connection_.check_reply(channel_, "basic.cancel");
  }
  tags_.clear();
}

bool Consumer::current(const Delivery& delivery) const {
  return connection_.is_open() && channel_generation_ == connection_.generation() &&
         delivery.generation == epoch_ && outstanding_.contains(delivery.tag);
}

bool Consumer::ack(const Delivery& delivery, bool multiple) {
  if (!current(delivery)) return false;
  if (multiple) {
    outstanding_.erase(outstanding_.begin(), outstanding_.upper_bound(delivery.tag));
  } else {
    outstanding_.erase(delivery.tag);
  }
  return connection_.check_status(
      amqp_basic_ack(connection_.native(), channel_, delivery.tag, multiple ? 1 : 0), "basic.ack");
}

bool Consumer::reject(const Delivery& delivery, bool requeue) {
  if (!current(delivery)) return false;
  outstanding_.erase(delivery.tag);
  return connection_.check_status(
      amqp_basic_reject(connection_.native(), channel_, delivery.tag, requeue ? 1 : 0),
      "basic.reject");
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
  auto it = std::find(tags_.begin(), tags_.end(), message.consumer_tag);
  d.preference =
      it == tags_.end() ? static_cast<int>(queues_.size()) : static_cast<int>(it - tags_.begin());
  d.queue =
      it == tags_.end() ? message.routing_key : queues_[static_cast<std::size_t>(d.preference)];
  d.raw = std::move(message.message);
  if (message.body_dropped || message.body_size > limits_.max_body_bytes) {
    d.raw.body.clear();
    d.error = body_too_large(message.body_size, limits_.max_body_bytes);
  } else {
    try {
      d.job = decode_job(d.raw, d.queue, limits_);
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
      restart();
    } catch (const InfrastructureError& e) {
      spdlog::error("consumer: subscribing again failed: {}", e.what());
    }
    return;
  }
  if (method.id != AMQP_BASIC_CANCEL_METHOD) return;
  const auto* cancel = static_cast<amqp_basic_cancel_t*>(method.decoded);
  const std::string tag = to_string(cancel->consumer_tag);
  auto it = std::find(tags_.begin(), tags_.end(), tag);
  if (it == tags_.end()) return;
  const std::string queue = queues_[static_cast<std::size_t>(it - tags_.begin())];
  if (on_cancelled) on_cancelled(queue);
}

} // namespace celeriac::broker
