// JobBroker: what the worker, scheduler and client need of a broker, so that
// the RabbitMQ Broker and the in-memory FakeBroker stand behind one interface
// (and one conformance suite, tests/broker/conformance.hpp).
//
// Contract, for every implementation:
// - each publish completes exactly once through its callback;
// - a queue delivers higher priorities first, FIFO within a priority;
// - a consumer holds at most `prefetch` unacknowledged deliveries per queue;
// - reject(requeue=true) puts a delivery back, to be delivered again with
//   redelivered set; ack and reject(requeue=false) remove it. (On RabbitMQ
//   with the dead-letter policy set, reject(requeue=false) also copies it to
//   "<queue>.dead"; so to dead-letter a job with a reason, publish the reason-
//   carrying copy to "<queue>.dead" and then ack, as DESIGN.md says: never
//   reject, or the dead-letter queue holds it twice.)
// - a delayed publish arrives no earlier than its delay;
// - consume() does not fail for a queue the broker refuses (missing, access
//   refused, in exclusive use): that queue's subscription is Retrying, with
//   the reason, and retries on its own until it takes; the other queues, and
//   publishing, carry on. subscriptions() says where each queue stands (for
//   a worker's /healthz);
// - callbacks run on the implementation's loop thread, never re-entrantly
//   inside publish/consume/ack calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "celeriac/broker/consumer.hpp"
#include "celeriac/broker/publisher.hpp"

namespace celeriac::broker {

class JobBroker {
 public:
  virtual ~JobBroker() = default;

  // Publishes JOB to its queue. NOW sets the message's expiration when the job expires.
  virtual void publish(const Job& job, PublishCallback done,
                       std::optional<Timestamp> now = std::nullopt) = 0;
  // Publishes JOB to arrive in its queue after DELAY (whole seconds; the eta holds the rest).
  virtual void publish_delayed(const Job& job, Duration delay, PublishCallback done) = 0;
  // Publishes a raw message (e.g. a dead letter) to EXCHANGE/ROUTING_KEY.
  virtual void publish(Outgoing outgoing) = 0;

  virtual void consume(std::vector<std::string> queues, std::uint16_t prefetch,
                       DeliveryHandler handler) = 0;
  virtual bool ack(const Delivery& delivery, bool multiple = false) = 0;
  virtual bool reject(const Delivery& delivery, bool requeue) = 0;
  // The queues consumed, in order of preference, each with its state.
  virtual std::vector<Subscription> subscriptions() const = 0;
};

} // namespace celeriac::broker
