// BrokerThread: a Broker on a libuv loop of its own thread, which
// other threads publish through.
//
// Threading: publish() may be called from any thread. It appends to a queue
// under a mutex and wakes the loop with uv_async_send; sends coalesce, so the
// loop drains the whole queue each time. Only the loop thread touches the
// Broker. Each message completes through its future, set on the loop thread
// (a broken promise means the thread stopped first).
// Start/stop: the constructor returns once the broker is connected, or throws
// InfrastructureError; the destructor stops the broker (outstanding publishes
// fail with "broker stopped") and joins the thread.
#pragma once

#include <uv.h>

#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "celeriac/broker/broker.hpp"

namespace celeriac::broker {

class BrokerThread {
 public:
  explicit BrokerThread(BrokerOptions options);
  ~BrokerThread();
  BrokerThread(const BrokerThread&) = delete;
  BrokerThread& operator=(const BrokerThread&) = delete;

  // Queues MESSAGES for the loop, in order; their `done` callbacks are
  // replaced by the returned futures.
  std::vector<std::future<PublishResult>> publish(std::vector<Outgoing> messages);

  // Declares QUEUE, this connection's private queue (broker.hpp), on the
  // loop; its callbacks run on the loop thread. False once stopped.
  bool listen(PrivateQueue queue);

 private:
  void run(BrokerOptions options, std::promise<void>& started);
  void drain(); // loop thread: hands queued messages to the broker, or stops

  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  std::unique_ptr<Broker> broker_; // loop thread only

  std::mutex mutex_; // guards queued_, calls_, running_, stopping_
  std::vector<Outgoing> queued_;
  std::vector<std::function<void()>> calls_; // to run on the loop, in order
  bool running_ = false;                     // the loop accepts messages
  bool stopping_ = false;                    // the destructor asked the loop to end

  std::thread thread_; // last: starts after everything above exists
};

} // namespace celeriac::broker
