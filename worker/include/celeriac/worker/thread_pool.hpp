// ThreadPool: the `--pool thread` TaskRunner. N threads of its own (never
// libuv's shared pool) run one job each; outcomes come back to the loop
// through a uv_async handle.
//
// Time limits (the job's, else the task's defaults):
// - soft: the job's TaskContext is cancelled, so cancelled() turns true and
//   checkpoint() throws; a cooperative task stops there;
// - hard: the job completes at once as Failed{"TimeLimitExceeded", timeout}
//   and its thread is abandoned: it runs on, detached, and whatever it returns
//   is dropped. A fresh thread takes its place so the pool keeps N runners.
//   When half the pool's threads or more are abandoned and still running,
//   on_too_many_stuck fires once: the worker should drain and exit so its
//   supervisor starts a clean process (a thread cannot be killed safely).
//
// Threading: construct, run(), close() and the destructor on the loop thread;
// DONE callbacks and on_too_many_stuck run there too. The destructor closes
// the pool if close() was not called; jobs not started by then never complete.
#pragma once

#include <functional>
#include <memory>

#include <uv.h>

#include "celeriac/worker/job_path.hpp"

namespace celeriac::worker {

class ThreadPool final : public TaskRunner {
 public:
  ThreadPool(uv_loop_t* loop, std::size_t threads);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void run(const Job& job, const TaskDefinition& definition,
           std::function<void(TaskOutcome)> done) override;

  // Cancels the running job ID (revoke --terminate): cooperative, like the soft limit.
  bool cancel(const JobId& id);

  std::size_t size() const;  // threads that take jobs
  std::size_t busy() const;  // of those, running a job
  std::size_t stuck() const; // abandoned after a hard limit, still running

  std::function<void()> on_too_many_stuck;

  // Stops the threads once their current job is done and closes the loop
  // handles; jobs still queued are dropped (their DONE never runs).
  void close();

 private:
  class Impl;
  std::shared_ptr<Impl> impl_; // shared with the threads, which may outlive the pool
};

} // namespace celeriac::worker
