// Side A of publish_bench, and the program's queue administration: rabbitmq-c
// used directly through <amqp.h>, blocking calls, no celeriac code at all.
// Errors throw std::runtime_error with what failed and why.
#pragma once

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "publish_run.hpp"

namespace celeriac::bench {

// One blocking rabbitmq-c connection with channel 1 open.
class BareConnection {
 public:
  static constexpr amqp_channel_t kChannel = 1;

  // HEARTBEAT 0 turns heartbeats off: right for a connection that idles
  // between calls without reading, such as the administration one.
  BareConnection(const std::string& url, std::chrono::seconds heartbeat);
  ~BareConnection();
  BareConnection(const BareConnection&) = delete;
  BareConnection& operator=(const BareConnection&) = delete;

  amqp_connection_state_t native() const { return state_; }
  // Throws, naming WHAT, unless the synchronous call just made succeeded.
  void check(const char* what) const;

 private:
  amqp_connection_state_t state_;
};

// A durable classic queue with x-max-priority 9, as celeriac declares job queues.
void declare_queue(BareConnection& connection, const std::string& queue);
// Empties QUEUE; returns how many messages it held.
std::uint32_t purge_queue(BareConnection& connection, const std::string& queue);
void delete_queue(BareConnection& connection, const std::string& queue);

// Side A: publishes SPEC.messages persistent messages on a connection of its
// own in confirm mode, at most SPEC.window unconfirmed, and waits for the last
// confirmation. Connecting is not timed.
RunResult run_bare_publisher(const RunSpec& spec);

// worker_bench's baseline: what a consumer that does no work at all costs.
struct ConsumeResult {
  std::uint64_t acked = 0;
  std::chrono::steady_clock::time_point finished{}; // the last ack sent
  std::chrono::duration<double> elapsed{0};         // first delivery to last ack sent
  std::chrono::duration<double> cpu{0};             // this process's CPU time meanwhile
  double rate() const { return elapsed.count() > 0 ? acked / elapsed.count() : 0.0; }
};

// Consumes COUNT messages from QUEUE on a connection of its own, basic.qos
// PREFETCH, acking each as it arrives (one basic.ack per message, not
// multiple). Connecting is not timed. ON_CONSUMING, if given, is called once
// the consumer is registered, before the first message is awaited. Throws
// when the broker sends nothing for kStallTimeout.
ConsumeResult run_bare_consumer(const std::string& url, const std::string& queue,
                                std::uint64_t count, std::uint16_t prefetch,
                                const std::function<void()>& on_consuming = {});

} // namespace celeriac::bench
