// Consumer: takes jobs from several queues on one channel of a Connection.
//
// Queues are given in order of preference; each delivery says its queue's rank
// (0 = most preferred) so the worker can run a waiting high job before a
// waiting low one. basic.qos is per consumer: each queue's consumer holds at
// most `prefetch` unacknowledged messages, so a job that sits in the worker's
// hands is never a high-priority job stuck behind a full prefetch of low ones.
//
// Each delivery carries the decoded job, or the decode error and the raw
// message (to be dead-lettered with the reason). A body over the limits'
// max_body_bytes is not kept (the Connection drops it as it arrives: give it
// the same limit): the delivery has the headers and properties, an empty body
// and the error body_too_large() names. A delivery belongs to one
// opening of the consumer channel (its epoch). ack and reject refuse (return
// false) what the broker would punish by closing the channel: a delivery of an
// earlier channel or connection, whose tag now means nothing (the broker has
// requeued it), or one already acked or rejected. If the broker closes the
// channel anyway, it is reopened and the queues subscribed again.
//
// Acks are coalesced: ack() settles the delivery at once on our side and owes
// the broker its basic.ack until the end of the loop iteration (a uv_check),
// when every owed tag below the lowest delivery still outstanding goes as one
// basic.ack with multiple=true and the rest one by one. A worker acks a whole
// store commit's jobs in one iteration, so the broker's queue process handles
// one ack instead of hundreds. flush_acks() sends them at once; the Broker
// calls it before closing the connection. Acks owed on a channel that closes
// first are dropped, as an unacked delivery would be: the broker requeues them.
// Calling start() again replaces the subscription: the channel is closed (the
// broker requeues what was not acked) and opened anew.
//
// Subscriptions fail one queue at a time. A queue the broker refuses (404
// missing, 403 access refused, 405 in exclusive use) is Retrying, with the
// broker's reason, on a backoff of its own; the other queues are consumed and
// the connection stays up. Each queue is first checked with a passive declare
// on the probe channel, so a missing or locked queue is found without closing
// the consumer channel (which would take back the other queues' unacked
// deliveries). A refusal only basic.consume reveals (403: no read permission,
// or another connection's exclusive consumer) costs the consumer channel the
// first time, and the other queues are subscribed again on a fresh one; its
// retries then try basic.consume on the probe channel first (qos 1, and the
// probe channel reopened after, so at most one message is taken and given
// back, marked redelivered). A state change is logged once, not each retry.
// Threading: the loop thread only.
#pragma once

#include <amqp.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "celeriac/broker/connection.hpp"
#include "celeriac/core/celery_protocol.hpp"

namespace celeriac::broker {

struct Delivery {
  std::uint64_t tag = 0;
  std::uint64_t generation = 0; // the consumer channel's epoch it came on
  bool redelivered = false;
  std::string queue;
  int preference = 0;
  std::optional<Job> job;           // set when the message decoded
  std::optional<std::string> error; // the DecodeError's text otherwise
  Message raw;
};

using DeliveryHandler = std::function<void(Delivery&&)>;

// The decode error of a body of SIZE bytes over LIMIT, delivered without it.
std::string body_too_large(std::uint64_t size, std::size_t limit);

enum class SubscriptionStatus {
  Pending,    // waiting for the connection (or not started)
  Subscribed, // the broker delivers from it
  Retrying,   // the broker refused it; `error` says why, and it is tried again
  Cancelled,  // cancel() stopped it
};

std::string_view to_string(SubscriptionStatus status);

// One consumed queue and where it stands.
struct Subscription {
  std::string queue;
  SubscriptionStatus status = SubscriptionStatus::Pending;
  std::string error;          // the last refusal, naming the queue and the broker's reply
  std::uint32_t failures = 0; // refusals since it was last subscribed
};

struct ConsumerOptions {
  CodecLimits limits;
  // A channel for the passive declare before each basic.consume (see above);
  // without one, every refusal costs the consumer channel.
  std::optional<amqp_channel_t> probe_channel;
  std::chrono::milliseconds retry_min{1000}; // a refused queue's backoff, doubling, equal jitter
  std::chrono::milliseconds retry_max{30'000};
};

class Consumer {
 public:
  Consumer(Connection& connection, amqp_channel_t channel, ConsumerOptions options = {});
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Opens the channel, sets QoS and subscribes to QUEUES (most preferred
  // first). Call again after a reconnect to subscribe anew. Refusals do not
  // throw (see above); a lost connection throws InfrastructureError.
  void start(std::vector<std::string> queues, std::uint16_t prefetch, DeliveryHandler handler);
  // Records the subscription without talking to the broker; restart() makes it.
  void configure(std::vector<std::string> queues, std::uint16_t prefetch, DeliveryHandler handler);
  // Stops the broker from delivering more (basic.cancel); unacked deliveries stay ours.
  void cancel();
  // After a reconnect: subscribes the same queues again.
  void restart();
  // Stops retrying refused queues (the broker is stopping).
  void stop_retrying();

  bool ack(const Delivery& delivery, bool multiple = false);
  bool reject(const Delivery& delivery, bool requeue);
  // Sends the acks owed now rather than at the end of the loop iteration.
  void flush_acks();
  // basic.ack frames sent, and the deliveries they settled (for tests and metrics).
  std::uint64_t ack_frames() const { return ack_frames_; }
  std::uint64_t acked() const { return acked_; }
  // The broker cancelled a consumer (its queue was deleted): consumer_cancel_notify.
  // The queue is then Retrying, and subscribes again once it is back.
  std::function<void(const std::string& queue)> on_cancelled;

  std::vector<Subscription> subscriptions() const;

  // Wiring from the Connection's handlers.
  void on_message(InboundMessage&& message);
  void on_method(const amqp_method_t& method);

 private:
  enum class Outcome { Subscribed, Refused, ChannelClosed };
  struct Queue {
    Subscription state;
    std::string tag;              // the consumer tag while subscribed on this epoch
    bool consume_refused = false; // refused by basic.consume itself: probe that too
  };

  bool current(const Delivery& delivery) const;
  bool channel_current() const;
  void open_fresh_channel();
  void begin_epoch();
  void subscribe_all(std::set<std::size_t> refused = {});
  Outcome subscribe(std::size_t index);
  bool probe(std::size_t index);
  bool probe_consume(std::size_t index);
  void subscribed(std::size_t index, const std::string& tag);
  void refused(std::size_t index, const std::string& why);
  void schedule_retry();
  void retry();
  void on_broker_cancel(const amqp_method_t& method);
  int preference_of(const std::string& consumer_tag) const;

  Connection& connection_;
  amqp_channel_t channel_;
  ConsumerOptions options_;
  std::vector<Queue> queues_; // in order of preference
  std::uint16_t prefetch_ = 1;
  DeliveryHandler handler_;
  std::uint64_t epoch_ = 0;              // one per opening of the channel
  std::uint64_t channel_generation_ = 0; // the connection generation it was opened on
  std::set<std::uint64_t> outstanding_;  // tags delivered and not yet acked or rejected
  std::vector<std::uint64_t> owed_;      // tags acked on our side, basic.ack not yet sent
  std::vector<std::uint64_t> flushing_;  // owed_ while flush_acks() sends it; kept for its capacity
  uv_check_t* flush_check_ = nullptr;    // sends owed_ at the end of the iteration
  std::uint64_t ack_frames_ = 0, acked_ = 0;
  std::set<std::string> epoch_tags_;  // consumer tags of this opening (cancel keeps them)
  uv_timer_t* retry_timer_ = nullptr; // freed in its close callback
  int retry_attempt_ = 0;             // retries since every queue was last subscribed
  std::mt19937_64 rng_{std::random_device{}()};
};

} // namespace celeriac::broker
