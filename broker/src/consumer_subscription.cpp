// Consumer's subscriptions: each queue subscribed on its own, a refused one
// retried on a backoff without disturbing the others (see consumer.hpp).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/consumer.hpp"

namespace celeriac::broker {

// A channel opened on this connection is closed first: opening it twice is a
// connection error (504).
void Consumer::open_fresh_channel() {
  if (channel_current()) {
    amqp_channel_close(connection_.native(), channel_, AMQP_REPLY_SUCCESS);
    connection_.check_reply(channel_, "channel.close");
  }
  connection_.open_channel(channel_);
  channel_generation_ = connection_.generation();
}

// A new opening of the channel: what the old one delivered is the broker's again.
void Consumer::begin_epoch() {
  flush_acks(); // before the channel closes, or the broker requeues what we have run
  for (auto& queue : queues_)
    queue.tag.clear();
  epoch_tags_.clear();
  outstanding_.clear();
  ++epoch_;
  open_fresh_channel();
  amqp_basic_qos(connection_.native(), channel_, 0, prefetch_, 0);
  connection_.check_reply(channel_, "basic.qos");
}

void Consumer::restart() {
  stop_retrying();
  retry_attempt_ = 0;
  subscribe_all();
}

// Subscribes every queue that takes. A basic.consume refusal closes the
// channel and with it the queues subscribed so far, so the round starts over
// on a fresh channel without the refused queues (at most once per queue).
void Consumer::subscribe_all(std::set<std::size_t> refused_now) {
  for (bool again = true; again;) {
    again = false;
    begin_epoch();
    for (std::size_t i = 0; i < queues_.size() && !again; ++i) {
      if (refused_now.contains(i)) continue;
      if (subscribe(i) == Outcome::ChannelClosed) {
        refused_now.insert(i);
        again = true;
      }
    }
  }
  schedule_retry();
}

Consumer::Outcome Consumer::subscribe(std::size_t index) {
  if (!probe(index)) return Outcome::Refused;
  const std::string& name = queues_[index].state.queue;
  try {
    const amqp_basic_consume_ok_t* ok =
        amqp_basic_consume(connection_.native(), channel_, bytes_view(name), amqp_empty_bytes, 0, 0,
                           0, amqp_empty_table);
    connection_.check_reply(channel_, "basic.consume");
    subscribed(index, to_string(ok->consumer_tag));
    return Outcome::Subscribed;
  } catch (const ChannelError& e) {
    refused(index, e.what());
    queues_[index].consume_refused = true;
    return Outcome::ChannelClosed;
  }
}

// A passive declare on the probe channel finds a missing queue (404) or one
// another connection holds exclusively (405) at the cost of that channel only.
bool Consumer::probe(std::size_t index) {
  if (!options_.probe_channel) return true;
  const std::string& name = queues_[index].state.queue;
  try {
    amqp_queue_declare(connection_.native(), *options_.probe_channel, bytes_view(name), 1, 0, 0, 0,
                       amqp_empty_table);
    connection_.check_reply(*options_.probe_channel, "queue.declare (passive)");
  } catch (const ChannelError& e) {
    refused(index, e.what());
    return false;
  }
  return !queues_[index].consume_refused || probe_consume(index);
}

// basic.consume on the probe channel, which is then closed and opened again:
// a refusal closes that channel, never the consumer channel. With qos 1 at
// most one message reaches the probe before the close gives it back.
bool Consumer::probe_consume(std::size_t index) {
  const amqp_channel_t probe = *options_.probe_channel;
  const std::string& name = queues_[index].state.queue;
  try {
    amqp_basic_qos(connection_.native(), probe, 0, 1, 0);
    connection_.check_reply(probe, "basic.qos");
    amqp_basic_consume(connection_.native(), probe, bytes_view(name), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    connection_.check_reply(probe, "basic.consume");
  } catch (const ChannelError& e) {
    refused(index, e.what());
    return false;
  }
  amqp_channel_close(connection_.native(), probe, AMQP_REPLY_SUCCESS);
  connection_.check_reply(probe, "channel.close");
  connection_.open_channel(probe);
  return true;
}

void Consumer::subscribed(std::size_t index, const std::string& tag) {
  Queue& queue = queues_[index];
  queue.tag = tag;
  epoch_tags_.insert(tag);
  if (queue.state.status == SubscriptionStatus::Retrying) {
    spdlog::info("consumer: subscribed to queue '{}' after {} refusals", queue.state.queue,
                 queue.state.failures);
  }
  queue.state = Subscription{queue.state.queue, SubscriptionStatus::Subscribed, {}, 0};
  queue.consume_refused = false;
}

// Logged when the state or the reason changes, not on every retry.
void Consumer::refused(std::size_t index, const std::string& why) {
  Subscription& state = queues_[index].state;
  queues_[index].tag.clear();
  std::string error = fmt::format("cannot consume from queue '{}': {}", state.queue, why);
  if (state.status != SubscriptionStatus::Retrying || state.error != error) {
    spdlog::error("consumer: {}; retrying in the background", error);
  }
  state.status = SubscriptionStatus::Retrying;
  state.error = std::move(error);
  ++state.failures;
}

void Consumer::schedule_retry() {
  const bool waiting = std::any_of(queues_.begin(), queues_.end(), [](const Queue& q) {
    return q.state.status == SubscriptionStatus::Retrying;
  });
  if (!waiting) {
    retry_attempt_ = 0;
    return;
  }
  const double base =
      static_cast<double>(options_.retry_min.count()) * std::pow(2.0, std::min(retry_attempt_, 20));
  const double capped = std::min(base, static_cast<double>(options_.retry_max.count()));
  const double delay = capped / 2 + std::uniform_real_distribution<double>(0, capped / 2)(rng_);
  ++retry_attempt_;
  uv_timer_start(
      retry_timer_, [](uv_timer_t* t) { static_cast<Consumer*>(t->data)->retry(); },
      static_cast<std::uint64_t>(delay), 0);
}

void Consumer::stop_retrying() {
  uv_timer_stop(retry_timer_);
}

// A libuv callback: nothing may escape. Without a current channel there is
// nothing to retry on; the reconnect subscribes every queue again.
void Consumer::retry() {
  if (!channel_current()) return;
  try {
    for (std::size_t i = 0; i < queues_.size(); ++i) {
      if (queues_[i].state.status != SubscriptionStatus::Retrying) continue;
      if (subscribe(i) == Outcome::ChannelClosed) {
        subscribe_all({i}); // the others went with the channel
        return;
      }
    }
    schedule_retry();
  } catch (const InfrastructureError& e) {
    spdlog::warn("consumer: retrying a subscription: {}", e.what());
  }
}

void Consumer::on_broker_cancel(const amqp_method_t& method) {
  const auto* cancel = static_cast<amqp_basic_cancel_t*>(method.decoded);
  const std::string tag = to_string(cancel->consumer_tag);
  const auto index = static_cast<std::size_t>(preference_of(tag));
  if (index >= queues_.size()) return;
  const std::string queue = queues_[index].state.queue;
  refused(index, "basic.cancel from the broker (the queue was deleted, or its node is down)");
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(retry_timer_)) == 0) schedule_retry();
  if (on_cancelled) on_cancelled(queue);
}

std::vector<Subscription> Consumer::subscriptions() const {
  std::vector<Subscription> all;
  for (const auto& queue : queues_) {
    all.push_back(queue.state);
    if (all.back().status == SubscriptionStatus::Subscribed && !channel_current()) {
      all.back().status = SubscriptionStatus::Pending; // the connection is down
    }
  }
  return all;
}

} // namespace celeriac::broker
