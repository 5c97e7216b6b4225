// JobPath: what the worker does with each delivery, from the broker's hands to
// the ack (DESIGN.md "Delivery contract", issue 6 "The job path").
//
//   undecodable / unknown task -> dead letter with the reason (+ FAILURE when
//                                 an id is readable) -> ack
//   expired / revoked          -> REVOKED -> ack
//   eta in the future          -> back to the delay topology (a local timer
//                                 under 1 s) -> ack once that is confirmed
//   over the task's rate limit -> held on a timer until its slot (RateLimiter),
//                                 or, a second or more away, back to the delay
//                                 topology until then
//   redelivered too often      -> (past the task's max_redeliveries, counted
//                                 by the store) FAILURE WorkerLost + dead letter
//   otherwise                  -> RECEIVED and STARTED (one change; a
//                                 redelivery records RECEIVED first), run,
//                                 then by the plan:
//                                 SUCCESS; or RETRY + the job republished with
//                                 retries + 1 after the delay; or FAILURE +
//                                 dead letter. Ack once the record committed
//                                 and the follow-up message was confirmed.
// When a follow-up publish or a record fails, the delivery is rejected with
// requeue instead of acked, so the job comes back: at least once, never lost.
//
// Threading: the loop thread only. The broker, the recorder and the runner
// must call back on it too.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "celeriac/broker/job_broker.hpp"
#include "celeriac/store/store_writer.hpp"
#include "celeriac/worker/rate_limiter.hpp"
#include "celeriac/worker/task.hpp"
#include "celeriac/worker/task_outcome.hpp"

namespace celeriac::worker {

// Where state changes go: the StoreWriter in the daemon.
class StateRecorder {
 public:
  virtual ~StateRecorder() = default;
  virtual void record(store::JobChange change, store::WriteCallback done) = 0;
};

// What runs a task: a pool. DONE runs on the loop thread.
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  virtual void run(const Job& job, const TaskDefinition& definition,
                   std::function<void(TaskOutcome)> done) = 0;
};

// What became of a job that ran.
struct JobFinished {
  JobState state = JobState::Success;
  double seconds = 0;                     // from its start to its outcome
  const nlohmann::json* result = nullptr; // SUCCESS: the return value
  std::string error;                      // otherwise: "<type>: <message>"
};

struct JobPathOptions {
  std::string worker_name;          // "hostname:pid", recorded with each job
  std::function<Timestamp()> clock; // now
  UniformRandom random;             // jitter of retry delays
  // How many jobs run at once (the pool's size). Past it, jobs wait here and
  // the best goes next as a slot frees: most preferred queue first, then the
  // highest priority, then the earliest. So however many jobs the prefetch
  // windows of several queues hold, a high job waits for one running job per
  // slot at most. 0: no limit (the runner queues).
  std::size_t slots = 0;
  // Runs FN on the loop after DELAY (a uv_timer in the daemon).
  std::function<void(Duration delay, std::function<void()> fn)> defer;
  // Told of each job as it is received, as it starts in the pool, and once
  // it ran (metrics, events). Optional.
  std::function<void(const Job& job)> on_received;
  std::function<void(const Job& job)> on_started;
  std::function<void(const Job& job, const JobFinished& finished)> on_finished;
};

struct JobPathCounters {
  std::uint64_t received = 0, succeeded = 0, retried = 0, failed = 0, revoked = 0,
                dead_lettered = 0, requeued = 0, rate_limited = 0;
  std::uint64_t running = 0; // handed to the runner, outcome not back yet
  std::uint64_t waiting = 0; // received, waiting for a free slot
};

class JobPath {
 public:
  JobPath(broker::JobBroker& broker, StateRecorder& recorder, TaskRunner& runner,
          const TaskRegistry& registry, JobPathOptions options);

  void handle(broker::Delivery&& delivery);
  void revoke(const JobId& id) { revoked_.insert(id); }
  // Overrides TASK's rate limit (nullopt lifts it), for the jobs that arrive from now.
  void set_rate_limit(const std::string& task, std::optional<RateLimit> rate) {
    limiter_.set_override(task, rate);
  }
  // Shutdown: from now on no job starts. What arrives, or comes off a timer
  // (an eta, a rate limit), goes back to its queue unstarted.
  void stop_starting();
  const JobPathCounters& counters() const { return counters_; }

 private:
  class Settlement; // waits for a record and a publish, then acks or requeues

  void reject_undecodable(broker::Delivery&& delivery);
  void settle_revoked(broker::Delivery&& delivery, const std::string& type, const std::string& why);
  void send_back_for_eta(broker::Delivery&& delivery, Duration wait);
  void hold_for_rate(broker::Delivery&& delivery, const TaskDefinition& definition, Duration wait);
  void requeue_unstarted(broker::Delivery&& delivery);
  void start(broker::Delivery&& delivery, const TaskDefinition& definition);
  void run(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition);
  void dispatch(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition);
  // With RECEIVED_AT, the delivery (not recorded yet) goes in the same change
  // as STARTED.
  void begin(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition,
             std::optional<Timestamp> received_at = std::nullopt);
  void dispatch_waiting();
  void send_back_until(broker::Delivery&& delivery, Timestamp due);
  void fail_lost(broker::Delivery&& delivery, int redeliveries);
  void finish(std::shared_ptr<broker::Delivery> delivery, const TaskDefinition& definition,
              const TaskOutcome& outcome, double seconds);
  void dead_letter(const broker::Delivery& delivery, const std::string& reason,
                   broker::PublishCallback done);
  store::JobChange change(const Job& job, JobState state) const;

  broker::JobBroker& broker_;
  StateRecorder& recorder_;
  TaskRunner& runner_;
  const TaskRegistry& registry_;
  JobPathOptions options_;
  // Jobs waiting for a slot, best first: (queue preference, -priority, arrival).
  struct Waiting {
    std::shared_ptr<broker::Delivery> held;
    const TaskDefinition* definition;
  };
  std::map<std::tuple<int, int, std::uint64_t>, Waiting> waiting_;
  std::uint64_t arrivals_ = 0;
  std::set<JobId> revoked_;
  RateLimiter limiter_;
  bool stopping_ = false;
  JobPathCounters counters_;
};

} // namespace celeriac::worker
