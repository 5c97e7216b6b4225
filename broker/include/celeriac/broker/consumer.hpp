// Consumer: takes jobs from several queues on one channel of a Connection.
//
// Queues are given in order of preference; each delivery says its queue's rank
// (0 = most preferred) so the worker can run a waiting high job before a
// waiting low one. basic.qos is per consumer: each queue's consumer holds at
// most `prefetch` unacknowledged messages, so a job that sits in the worker's
// hands is never a high-priority job stuck behind a full prefetch of low ones.
//
// Each delivery carries the decoded job, or the decode error and the raw
// message (to be dead-lettered with the reason). Acks name the connection
// generation of the delivery: an ack or reject for a delivery of a connection
// that has since been lost is refused (returns false) instead of acking an
// unrelated message of the new connection. Threading: the loop thread only.
#pragma once

#include <amqp.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "celeriac/broker/connection.hpp"
#include "celeriac/core/celery_protocol.hpp"

namespace celeriac::broker {

struct Delivery {
  std::uint64_t tag = 0;
  std::uint64_t generation = 0;
  bool redelivered = false;
  std::string queue;
  int preference = 0;
  std::optional<Job> job;           // set when the message decoded
  std::optional<std::string> error; // the DecodeError's text otherwise
  Message raw;
};

using DeliveryHandler = std::function<void(Delivery&&)>;

class Consumer {
 public:
  Consumer(Connection& connection, amqp_channel_t channel, CodecLimits limits = {});

  // Opens the channel, sets QoS and subscribes to QUEUES (most preferred
  // first). Call again after a reconnect to subscribe anew. Throws InfrastructureError.
  void start(std::vector<std::string> queues, std::uint16_t prefetch, DeliveryHandler handler);
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

  Connection& connection_;
  amqp_channel_t channel_;
  CodecLimits limits_;
  std::vector<std::string> queues_;
  std::vector<std::string> tags_; // consumer tag per queue, same order
  std::uint16_t prefetch_ = 1;
  DeliveryHandler handler_;
};

} // namespace celeriac::broker
