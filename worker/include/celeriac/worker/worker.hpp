// Worker: the daemon's runtime (DESIGN.md "Worker runtime"). One libuv loop
// thread owns the Broker, the StoreWriter's completions, the pool (process
// children or threads) and its completions, timers and signals; the JobPath decides what each
// delivery becomes. Acks ride on store commits, so while the database is away the prefetch window
// fills and the broker stops delivering by itself: the backlog in memory is bounded by prefetch.
//
// Shutdown: SIGTERM or SIGINT (or shutdown()) is warm: deliveries that arrive
// from then on go straight back to their queue, running jobs finish for up to
// shutdown_timeout, the store is flushed, the connection closed, and run()
// returns 0. A second signal, SIGQUIT, or the timeout is cold: running jobs
// are cancelled and dropped unacked, so the broker gives them to another
// worker. No job is lost either way.
//
// Threading: run() blocks the calling thread, which becomes the loop thread;
// shutdown() may be called from any thread.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "celeriac/broker/broker.hpp"
#include "celeriac/core/config.hpp"
#include "celeriac/store/store_writer.hpp"
#include "celeriac/worker/job_path.hpp"
#include "celeriac/worker/task.hpp"

namespace celeriac::worker {

struct WorkerOptions {
  broker::BrokerOptions broker;
  store::StoreWriterOptions store;
  std::vector<std::string> queues = {"default"}; // most preferred first
  PoolKind pool = PoolKind::Process;             // core's, from config.hpp
  std::size_t concurrency = 1;                   // pool children or threads
  // Process pool: the binary and arguments that start a pool child (the
  // worker's own binary in child mode), and when children are recycled.
  std::string child_executable;
  std::vector<std::string> child_arguments;
  std::uint64_t max_tasks_per_child = 0;
  std::uint64_t max_memory_per_child = 0;
  std::uint16_t prefetch = 0; // per queue; 0: the pool size
  Duration shutdown_timeout = std::chrono::seconds(60);
  std::optional<std::string> http; // "host:port" for /healthz and /metrics; port 0: any free one
  std::string name;                // "hostname:pid" when empty
  bool events = false;             // -E: Celery task events on celeryev (task_events.hpp)
};

// "hostname:pid": how a worker names itself in the store and the logs.
std::string default_worker_name();

class Worker {
 public:
  Worker(WorkerOptions options, const TaskRegistry& registry);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Connects, consumes and runs jobs until shut down. Returns the exit status:
  // 0 after a shutdown, 1 when it could not start (the reason is logged),
  // kExitStuck after it drained because half its threads were stuck past
  // their hard time limit (restart it: the stuck threads go with the process).
  int run();
  static constexpr int kExitStuck = 3;

  // Asks for a warm shutdown (cold = false) or a cold one; any thread, any time.
  void shutdown(bool cold = false);

  // Counters of the job path, copied at the last loop turn; any thread.
  JobPathCounters counters() const;

  // The port /healthz and /metrics listen on once run() started them; 0 before.
  int http_port() const;

 private:
  class Runtime;
  WorkerOptions options_;
  const TaskRegistry& registry_;
  mutable std::mutex mutex_;   // guards the fields below
  int requested_ = 0;          // 0 none, 1 warm, 2 cold
  bool stuck_ = false;         // drained because of stuck threads
  Runtime* runtime_ = nullptr; // while run() is in its loop
  JobPathCounters counters_;
  int http_port_ = 0;
};

} // namespace celeriac::worker
