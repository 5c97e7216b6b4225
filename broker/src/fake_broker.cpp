#include "celeriac/broker/fake_broker.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

#include <fmt/format.h>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/delay_routing.hpp"
#include "celeriac/broker/topology.hpp"

namespace celeriac::broker {
namespace {

// Sets FLAG for the lifetime of the guard, even when a callback throws.
class Running {
 public:
  explicit Running(bool& flag) : flag_(flag) { flag_ = true; }
  ~Running() { flag_ = false; }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  Running(Running&&) = delete;
  Running& operator=(Running&&) = delete;

 private:
  bool& flag_;
};

std::optional<Timestamp> expiry(const Message& message, Timestamp now) {
  if (!message.properties.expiration) return std::nullopt;
  const std::string& text = *message.properties.expiration;
  std::int64_t ms = 0;
  if (std::from_chars(text.data(), text.data() + text.size(), ms).ec != std::errc{}) {
    return std::nullopt;
  }
  return now + std::chrono::milliseconds(std::max<std::int64_t>(ms, 0));
}

PublishResult unroutable(const Outgoing& outgoing) {
  if (!outgoing.mandatory) return {PublishStatus::Confirmed, {}};
  return {PublishStatus::Returned, fmt::format("312 NO_ROUTE (exchange '{}', routing key '{}')",
                                               outgoing.exchange, outgoing.routing_key)};
}

PublishResult routed(bool enqueued, const Outgoing& outgoing) {
  return enqueued ? PublishResult{PublishStatus::Confirmed, {}} : unroutable(outgoing);
}

} // namespace

FakeBroker::FakeBroker(Timestamp start, CodecLimits limits) : now_(start), limits_(limits) {}

void FakeBroker::declare_queue(std::string name, int max_priority) {
  queues_.try_emplace(std::move(name), Queue{std::clamp(max_priority, 0, 255), {}});
}

std::size_t FakeBroker::depth(std::string_view queue) const {
  auto it = queues_.find(queue);
  return it == queues_.end() ? 0 : it->second.ready.size();
}

std::size_t FakeBroker::unacked(std::string_view queue) const {
  std::size_t n = 0;
  for (const auto& [id, channel] : channels_) {
    for (std::size_t i = 0; i < channel.queues.size(); ++i) {
      if (channel.queues[i] == queue) n += channel.held[i];
    }
  }
  return n;
}

void FakeBroker::publish(const Job& job, PublishCallback done, std::optional<Timestamp> now) {
  publish(Outgoing{"", job.queue, encode_job(job, now), std::move(done)});
}

// The same exchange and routing key as the real Broker, so that raw publishes
// to the delay levels behave alike too.
void FakeBroker::publish_delayed(const Job& job, Duration delay, PublishCallback done) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
  const auto whole = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(seconds, 0, static_cast<std::int64_t>(kMaxDelaySeconds)));
  publish(Outgoing{delay_level_name(kDelayLevels - 1), delay_routing_key(whole, job.queue),
                   encode_job(job), std::move(done)});
}

void FakeBroker::publish(Outgoing outgoing) {
  PublishResult result = route(outgoing);
  complete(std::move(outgoing.done), std::move(result));
}

void FakeBroker::complete(PublishCallback done, PublishResult result) {
  if (!done) return;
  completions_.emplace_back([done = std::move(done), result = std::move(result)] { done(result); });
}

PublishResult FakeBroker::route(Outgoing& outgoing) {
  if (outgoing.exchange.empty()) {
    return routed(enqueue(outgoing.routing_key, std::move(outgoing.message)), outgoing);
  }
  if (outgoing.exchange == delay_level_name(kDelayLevels - 1)) return route_delayed(outgoing);
  if (outgoing.exchange == kControlExchange || outgoing.exchange == kEventsExchange) {
    return unroutable(outgoing); // no queue is bound to them here
  }
  return {PublishStatus::Failed,
          fmt::format("channel closed by the broker: 404 NOT_FOUND - no exchange '{}' in vhost",
                      outgoing.exchange)};
}

// A key with no delay bits set passes every level straight to the delivery
// exchange, so it is routed (or returned) at once; otherwise the message sits
// in the levels, which accept it whether or not its queue exists.
PublishResult FakeBroker::route_delayed(Outgoing& outgoing) {
  std::uint32_t seconds = 0;
  std::string queue;
  if (!parse_delay_routing_key(outgoing.routing_key, seconds, queue)) return unroutable(outgoing);
  if (seconds == 0) return routed(enqueue(queue, std::move(outgoing.message)), outgoing);
  delayed_.emplace(now_ + std::chrono::seconds(seconds),
                   Delayed{std::move(queue), std::move(outgoing.message)});
  return {PublishStatus::Confirmed, {}};
}

bool FakeBroker::enqueue(const std::string& queue, Message&& message) {
  auto it = queues_.find(queue);
  if (it == queues_.end()) return false;
  Queue& q = it->second;
  const int priority = std::clamp(message.properties.priority, 0, q.max_priority);
  const std::uint64_t seq = next_seq_++;
  const auto expires_at = expiry(message, now_);
  q.ready.emplace(ReadyKey{-priority, seq}, Stored{std::move(message), seq, false, expires_at});
  return true;
}

void FakeBroker::consume(std::vector<std::string> queues, std::uint16_t prefetch,
                         DeliveryHandler handler) {
  Channel channel;
  for (const auto& queue : queues) {
    Subscription sub{queue, SubscriptionStatus::Subscribed, {}, 0};
    if (!queues_.contains(queue)) {
      sub.status = SubscriptionStatus::Retrying;
      sub.error = fmt::format(
          "cannot consume from queue '{}': basic.consume: 404 NOT_FOUND - no queue '{}' in vhost "
          "'/'",
          queue, queue);
      sub.failures = 1;
    }
    channel.subscriptions.push_back(std::move(sub));
  }
  channel.held.assign(queues.size(), 0);
  channel.queues = std::move(queues);
  channel.prefetch = std::max<std::uint16_t>(prefetch, 1);
  channel.handler = std::move(handler);
  channels_.emplace(next_channel_++, std::move(channel));
}

std::vector<Subscription> FakeBroker::subscriptions() const {
  std::vector<Subscription> all;
  for (const auto& [id, channel] : channels_)
    all.insert(all.end(), channel.subscriptions.begin(), channel.subscriptions.end());
  return all;
}

// A subscription refused for a missing queue takes once the queue is declared.
void FakeBroker::retry_subscriptions() {
  for (auto& [id, channel] : channels_) {
    for (auto& sub : channel.subscriptions) {
      if (sub.status == SubscriptionStatus::Retrying && queues_.contains(sub.queue)) {
        sub = Subscription{sub.queue, SubscriptionStatus::Subscribed, {}, 0};
      }
    }
  }
}

FakeBroker::Channel* FakeBroker::held_by(const Delivery& delivery) {
  auto it = channels_.find(delivery.generation);
  if (it == channels_.end() || !it->second.unacked.contains(delivery.tag)) return nullptr;
  return &it->second;
}

// Like RabbitMQ, the tag itself must be outstanding, even with MULTIPLE.
bool FakeBroker::ack(const Delivery& delivery, bool multiple) {
  Channel* channel = held_by(delivery);
  if (channel == nullptr) return false;
  auto last = channel->unacked.upper_bound(delivery.tag);
  auto first = multiple ? channel->unacked.begin() : std::prev(last);
  for (auto it = first; it != last; ++it)
    --channel->held[it->second.index];
  channel->unacked.erase(first, last);
  return true;
}

bool FakeBroker::reject(const Delivery& delivery, bool requeue) {
  Channel* channel = held_by(delivery);
  if (channel == nullptr) return false;
  auto node = channel->unacked.extract(delivery.tag);
  Held& held = node.mapped();
  --channel->held[held.index];
  if (!requeue) return true;
  auto queue = queues_.find(channel->queues[held.index]);
  if (queue == queues_.end()) return true;
  held.stored.redelivered = true;
  const ReadyKey key{-held.priority, held.stored.seq};
  queue->second.ready.emplace(key, std::move(held.stored));
  return true;
}

void FakeBroker::advance(Duration d) {
  assert(d >= Duration::zero() && !running_);
  const Timestamp target = now_ + d;
  while (!delayed_.empty() && delayed_.begin()->first <= target) {
    now_ = delayed_.begin()->first;
    while (!delayed_.empty() && delayed_.begin()->first == now_) {
      auto node = delayed_.extract(delayed_.begin());
      Delayed& due = node.mapped();
      enqueue(due.queue, std::move(due.message)); // a missing queue drops it
    }
    run();
  }
  now_ = target;
  run();
}

std::size_t FakeBroker::run() {
  assert(!running_);
  Running guard(running_);
  std::size_t ran = 0;
  drop_expired();
  retry_subscriptions();
  for (;;) {
    while (!completions_.empty()) {
      auto callback = std::move(completions_.front());
      completions_.pop_front();
      ++ran;
      callback();
    }
    if (!deliver_round(ran) && completions_.empty()) return ran;
  }
}

// One message per consumer and queue per round, so queues and consumers take
// turns as they do on a real broker.
bool FakeBroker::deliver_round(std::size_t& ran) {
  bool delivered = false;
  for (auto& [id, channel] : channels_) {
    for (std::size_t i = 0; i < channel.queues.size(); ++i) {
      if (channel.held[i] >= channel.prefetch) continue;
      if (channel.subscriptions[i].status != SubscriptionStatus::Subscribed) continue;
      auto queue = queues_.find(channel.queues[i]);
      if (queue == queues_.end() || queue->second.ready.empty()) continue;
      deliver(id, channel, i);
      ++ran;
      delivered = true;
    }
  }
  return delivered;
}

void FakeBroker::deliver(std::uint64_t channel_id, Channel& channel, std::size_t index) {
  auto& ready = queues_.find(channel.queues[index])->second.ready;
  auto node = ready.extract(ready.begin());
  const std::uint64_t tag = channel.next_tag++;
  Delivery d;
  d.tag = tag;
  d.generation = channel_id;
  d.redelivered = node.mapped().redelivered;
  d.queue = channel.queues[index];
  d.preference = static_cast<int>(index);
  d.raw = node.mapped().message;
  if (d.raw.body.size() > limits_.max_body_bytes) { // as the Connection drops it on arrival
    d.error = body_too_large(d.raw.body.size(), limits_.max_body_bytes);
    d.raw.body.clear();
  } else {
    try {
      d.job = decode_job(d.raw, d.queue, limits_);
    } catch (const DecodeError& e) {
      d.error = e.what();
    }
  }
  channel.unacked.emplace(tag, Held{index, -node.key().first, std::move(node.mapped())});
  ++channel.held[index];
  channel.handler(std::move(d));
}

void FakeBroker::drop_expired() {
  for (auto& [name, queue] : queues_) {
    std::erase_if(queue.ready, [this](const auto& entry) {
      return entry.second.expires_at && *entry.second.expires_at <= now_;
    });
  }
}

} // namespace celeriac::broker
