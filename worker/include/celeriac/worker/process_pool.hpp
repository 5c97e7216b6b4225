// ProcessPool: the default `--pool process` TaskRunner. N children, each a
// copy of the worker's own binary started with uv_spawn in child mode
// (run_pool_child below), run one job at a time. Jobs go down and outcomes
// come up as length-prefixed frames on two pipes (the child's fds 3 and 4;
// its stdout and stderr stay the worker's, for the task's own output).
//
// - soft time limit: SIGUSR1 to the child, which cancels the job's
//   TaskContext (cancelled() turns true, checkpoint() throws);
// - hard time limit: SIGTERM, then SIGKILL after kill_grace; the job fails as
//   TimeLimitExceeded and a fresh child takes the slot;
// - a child that dies (segfault, abort, OOM kill, demo.crash) fails only its
//   job, as WorkerLost, and is replaced;
// - a child is recycled (its job pipe closed, so it exits) after
//   max_tasks_per_child jobs or once its RSS passes max_memory_per_child.
//
// Threading: the loop thread only; DONE callbacks run there.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <uv.h>

#include "celeriac/worker/job_path.hpp"

namespace celeriac::worker {

struct ProcessPoolOptions {
  std::size_t size = 1;
  std::string executable;                     // the binary to spawn
  std::vector<std::string> arguments;         // that put it in child mode
  std::uint64_t max_tasks_per_child = 0;      // 0: never recycle by count
  std::uint64_t max_memory_per_child = 0;     // bytes of RSS; 0: unlimited
  std::chrono::milliseconds kill_grace{1000}; // SIGTERM to SIGKILL at a hard limit
};

class ProcessPool final : public TaskRunner {
 public:
  ProcessPool(uv_loop_t* loop, ProcessPoolOptions options);
  ~ProcessPool() override; // close() if not called
  ProcessPool(const ProcessPool&) = delete;
  ProcessPool& operator=(const ProcessPool&) = delete;

  // Spawns the children. Throws InfrastructureError when the binary cannot start.
  void start();

  void run(const Job& job, const TaskDefinition& definition,
           std::function<void(TaskOutcome)> done) override;

  // revoke --terminate: kills (SIGKILL) the child running job ID; its job then
  // completes as Failed{"Terminated"}, which the job path records as REVOKED.
  // False when no child runs that job.
  bool terminate(const JobId& id);

  std::size_t size() const;
  std::size_t busy() const;
  std::uint64_t children_started() const; // including replacements

  // Kills the children and closes every handle; queued and running jobs never complete.
  void close();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The child's side: reads job frames from IN_FD, runs each with REGISTRY,
// writes outcome frames to OUT_FD, until IN_FD closes. Returns the exit
// status (0 on a clean end of input, 2 on a broken frame).
int run_pool_child(const TaskRegistry& registry, int in_fd, int out_fd);

} // namespace celeriac::worker
