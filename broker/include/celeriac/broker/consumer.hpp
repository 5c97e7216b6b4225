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
// Calling start() again replaces the subscription: the channel is closed (the
// broker requeues what was not acked) and opened anew.
// Threading: the loop thread only.
#pragma once

#include <amqp.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
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

class Consumer {
 public:
  Consumer(Connection& connection, amqp_channel_t channel, CodecLimits limits = {});

  // Opens the channel, sets QoS and subscribes to QUEUES (most preferred
  // first). Call again after a reconnect to subscribe anew. Throws InfrastructureError.
  void start(std::vector<std::string> queues, std::uint16_t prefetch, DeliveryHandler handler);
  // Records the subscription without talking to the broker; restart() makes it.
  void configure(std::vector<std::string> queues, std::uint16_t prefetch, DeliveryHandler handler);
  // Stops the broker from delivering more (basic.cancel); unacked deliveries stay ours.
  void cancel();
  // After a reconnect: subscribes the same queues again.
  void restart();

  bool ack(const Delivery& delivery, bool multiple = false);
  bool reject(const Delivery& delivery, bool requeue);
  // The broker cancelled a consumer (its queue was deleted): consumer_cancel_notify.
  std::function<void(const std::string& queue)> on_cancelled;

  // Wiring from the Connection's handlers.
  void on_message(InboundMessage&& message);
  void on_method(const amqp_method_t& method);

 private:
  bool current(const Delivery& delivery) const;
  void open_fresh_channel();

  Connection& connection_;
  amqp_channel_t channel_;
  CodecLimits limits_;
  std::vector<std::string> queues_;
  std::vector<std::string> tags_; // consumer tag per queue, same order
  std::uint16_t prefetch_ = 1;
  DeliveryHandler handler_;
  std::uint64_t epoch_ = 0;              // one per opening of the channel
  std::uint64_t channel_generation_ = 0; // the connection generation it was opened on
  std::set<std::uint64_t> outstanding_;  // tags delivered and not yet acked or rejected
  std::set<std::string> epoch_tags_;     // consumer tags of this opening (cancel keeps them)
};

} // namespace celeriac::broker
