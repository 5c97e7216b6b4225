// FakeBroker: an in-memory JobBroker on a clock the test moves, for the unit
// tier (worker, scheduler and client tests without RabbitMQ). It keeps the
// JobBroker contract (job_broker.hpp) and passes the same conformance suite
// as the RabbitMQ Broker (tests/broker/conformance.hpp).
//
// What it models, as RabbitMQ does it:
// - queues declared up front; priority 0..max_priority (higher first, a
//   larger priority counts as the maximum), FIFO within a priority;
// - the default exchange routes by routing key; a mandatory publish that
//   reaches no queue completes as Returned ("312 NO_ROUTE ..."), a publish to
//   an exchange it does not know as Failed ("... 404 NOT_FOUND ...");
// - delayed publishes (the delay-level exchange and routing keys of
//   delay_routing.hpp) wait their whole seconds on the fake clock, then enter
//   their queue; one for a missing queue is dropped on arrival, as the real
//   delivery exchange drops it;
// - a message's expiration property drops it once the clock passes it;
// - consuming a queue that is not declared does not fail the call: that
//   queue's subscription is Retrying with RabbitMQ's 404 reason, and it
//   takes (Subscribed) at the first run() after the queue is declared;
// - each consume() is one consumer channel: its own delivery tags from 1 and
//   at most `prefetch` unacked deliveries per queue. Delivery::generation
//   names the channel; ack and reject of a delivery the channel does not hold
//   return false (RabbitMQ would close the channel);
// - reject(requeue=true) puts a message back at its original position among
//   its priority, marked redelivered; reject(requeue=false) drops it.
// Messages are encoded on publish and decoded on delivery with core's codec,
// so codec errors surface as they do through RabbitMQ: publish(Job) throws
// what encode_job throws (its callback then never runs), and a message that
// does not decode is delivered with the error and the raw message (one over
// max_body_bytes without its body, as the Connection drops it).
//
// Threading: single-threaded; call everything from one thread. Callbacks
// (publish completions, deliveries) never run inside publish, consume, ack or
// reject: they wait for run() or advance(), which run them on the calling
// thread. run() keeps going until nothing more can happen, so a handler that
// always requeues makes it spin, as RabbitMQ would redeliver forever.
// An exception from a callback propagates out of run() or advance(); the
// fake stays usable and what was not run yet waits for the next run().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "celeriac/broker/job_broker.hpp"

namespace celeriac::broker {

class FakeBroker final : public JobBroker {
 public:
  explicit FakeBroker(Timestamp start, CodecLimits limits = {});
  ~FakeBroker() override = default;
  FakeBroker(const FakeBroker&) = delete;
  FakeBroker& operator=(const FakeBroker&) = delete;
  FakeBroker(FakeBroker&&) = delete;
  FakeBroker& operator=(FakeBroker&&) = delete;

  // Declares queue NAME (idempotent: a second declaration keeps the first's priorities).
  void declare_queue(std::string name, int max_priority = 9);

  // Moves the clock by D (not negative): delays that fall due enter their
  // queues in time order, with run() at each due time, then run() once more.
  void advance(Duration d);
  // Completes pending publishes and delivers what prefetch allows, until
  // nothing is left to do; returns how many callbacks ran. Not re-entrant.
  std::size_t run();

  Timestamp now() const { return now_; }
  // Ready messages in QUEUE (0 for an unknown queue).
  std::size_t depth(std::string_view queue) const;
  // Messages of QUEUE delivered and neither acked nor rejected, over all consumers.
  std::size_t unacked(std::string_view queue) const;
  // Delayed messages still waiting for their time.
  std::size_t delayed() const { return delayed_.size(); }

  void publish(const Job& job, PublishCallback done,
               std::optional<Timestamp> now = std::nullopt) override;
  void publish_delayed(const Job& job, Duration delay, PublishCallback done) override;
  void publish(Outgoing outgoing) override;

  void consume(std::vector<std::string> queues, std::uint16_t prefetch,
               DeliveryHandler handler) override;
  bool ack(const Delivery& delivery, bool multiple = false) override;
  bool reject(const Delivery& delivery, bool requeue) override;
  // Every consume()'s queues, in order.
  std::vector<Subscription> subscriptions() const override;

 private:
  struct Stored {
    Message message;
    std::uint64_t seq = 0; // its place among its priority: kept on requeue
    bool redelivered = false;
    std::optional<Timestamp> expires_at;
  };
  // Ready messages by (-priority, seq): higher priorities first, then FIFO.
  using ReadyKey = std::pair<int, std::uint64_t>;
  struct Queue {
    int max_priority = 9;
    std::map<ReadyKey, Stored> ready;
  };
  struct Held {
    std::size_t index = 0; // the queue's place in the consumer's list
    int priority = 0;
    Stored stored;
  };
  struct Channel {
    std::vector<std::string> queues;
    std::uint16_t prefetch = 1;
    DeliveryHandler handler;
    std::uint64_t next_tag = 1;
    std::map<std::uint64_t, Held> unacked;   // by delivery tag
    std::vector<std::size_t> held;           // unacked count per queue index
    std::vector<Subscription> subscriptions; // per queue index
  };
  struct Delayed {
    std::string queue;
    Message message;
  };

  PublishResult route(Outgoing& outgoing);
  PublishResult route_delayed(Outgoing& outgoing);
  // False (MESSAGE untouched) when QUEUE does not exist.
  bool enqueue(const std::string& queue, Message&& message);
  void complete(PublishCallback done, PublishResult result);
  bool deliver_round(std::size_t& ran);
  void deliver(std::uint64_t channel_id, Channel& channel, std::size_t index);
  void drop_expired();
  void retry_subscriptions();
  Channel* held_by(const Delivery& delivery);

  Timestamp now_;
  CodecLimits limits_;
  std::map<std::string, Queue, std::less<>> queues_;
  std::map<std::uint64_t, Channel> channels_; // by id, which deliveries carry as generation
  std::multimap<Timestamp, Delayed> delayed_; // by due time; FIFO among equal times
  std::deque<std::function<void()>> completions_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_channel_ = 1;
  bool running_ = false;
};

} // namespace celeriac::broker
