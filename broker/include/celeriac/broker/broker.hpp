// Broker: celeriac's door to RabbitMQ, for one libuv loop. It owns one
// Connection with three channels (1 publishing with confirms, 2 consuming,
// 3 declarations and probes), declares the topology on every connect, and
// comes back by itself when the connection is lost: exponential backoff with
// jitter (capped, logged), topology declared again, consumers subscribed
// again, and what was published but not confirmed published again. A queue
// that cannot be consumed does not cost the connection: its subscription
// retries on its own (consumer.hpp) and subscriptions() reports it.
//
// Threading: the loop's thread only. Start/stop: start() connects once and
// throws InfrastructureError if it cannot (unless retry_start: then it logs
// why and keeps reconnecting on the reconnect backoff, as after a lost
// connection; a ChannelError, the broker refusing the topology, still
// throws); stop() is safe twice and before start(), and fails
// outstanding publishes with "broker stopped".
// With a management URL, start() also sets each job queue's dead-letter
// policy over HTTP (blocking, once): call it before the loop carries work. If
// the management API cannot be reached, that is logged as an error and start
// goes on: the queues work, only broker-side drops are not dead-lettered.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/consumer.hpp"
#include "celeriac/broker/job_broker.hpp"
#include "celeriac/broker/publisher.hpp"
#include "celeriac/broker/topology.hpp"

namespace celeriac::broker {

struct BrokerOptions {
  ConnectionOptions connection;
  std::optional<std::string> management_url; // enables the dead-letter policies
  TopologySpec topology;
  std::size_t confirm_window = 1000;
  CodecLimits limits;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{30'000};
  // When start() cannot connect: false throws (a command that reports and
  // exits); true returns and reconnects in the background, publishes and
  // subscriptions waiting for the connection (a daemon started before its
  // broker, as Celery's broker_connection_retry_on_startup).
  bool retry_start = false;
  // A queue the broker refuses to let us consume is retried on this backoff
  // (doubling, equal jitter) while the connection and the other queues work.
  std::chrono::milliseconds subscribe_retry_min{1000};
  std::chrono::milliseconds subscribe_retry_max{30'000};
};

// A queue of this connection alone: exclusive, auto-deleted, named by the
// broker, consumed without acks (what it carries is advisory: control
// commands and their replies). Bound to `bind_exchange` with `binding_key`
// ("#": everything a topic exchange carries; a fanout ignores it), unless
// that is empty: then it is addressed by its name through the default
// exchange (a reply queue). It is declared anew on every connect, with
// a new name, which `on_ready` is told each time.
struct PrivateQueue {
  std::string bind_exchange;
  std::string binding_key = "#";
  std::function<void(const std::string& name)> on_ready;
  std::function<void(InboundMessage&&)> on_message;
};

class Broker final : public JobBroker {
 public:
  Broker(uv_loop_t* loop, BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  void start();
  void stop();

  // Publishes JOB to its queue. NOW sets the message's expiration when the job expires.
  void publish(const Job& job, PublishCallback done,
               std::optional<Timestamp> now = std::nullopt) override;
  // Publishes JOB to wait DELAY in the delay levels, then arrive in its queue.
  // Whole seconds wait in the broker; the job's eta holds the rest.
  void publish_delayed(const Job& job, Duration delay, PublishCallback done) override;
  void publish(Outgoing outgoing) override;

  void consume(std::vector<std::string> queues, std::uint16_t prefetch,
               DeliveryHandler handler) override;
  bool ack(const Delivery& delivery, bool multiple = false) override;
  bool reject(const Delivery& delivery, bool requeue) override;
  std::vector<Subscription> subscriptions() const override;

  // Stops consuming for good (a worker's warm shutdown): basic.cancel now,
  // and no new subscription after a reconnect. Unacked deliveries stay ours.
  void stop_consuming();

  // Declares and consumes QUEUE now if connected, and after every reconnect.
  // One per Broker; a second call replaces the first from the next connect.
  void listen(PrivateQueue queue);

  bool connected() const { return connection_->is_open(); }
  std::uint64_t reconnects() const { return reconnects_; }
  Connection& connection() { return *connection_; }
  Publisher& publisher() { return *publisher_; }
  Consumer& consumer() { return *consumer_; }
  static constexpr amqp_channel_t kAdminChannel = 3;
  static constexpr amqp_channel_t kPrivateChannel = 4;

 private:
  bool connect();
  void fail_start(const std::exception& e);
  void apply_dead_letter_policies();
  void on_lost(const std::string& reason);
  void schedule_reconnect();
  void declare_private_queue();

  uv_loop_t* loop_;
  BrokerOptions options_;
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<Consumer> consumer_;
  bool consuming_ = false;
  std::optional<PrivateQueue> private_queue_;
  bool stopped_ = true;
  bool policies_pending_ = false;                      // a retried start sets them once connected
  uv_timer_t* retry_timer_ = nullptr;                  // freed in its close callback
  int attempt_ = 0;                                    // reconnects since a lasting connection
  std::chrono::steady_clock::time_point connected_at_; // when the current connection opened
  std::uint64_t reconnects_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
};

} // namespace celeriac::broker
