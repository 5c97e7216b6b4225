// WorkerMetrics: what `--http` serves. /metrics is in the Prometheus text
// format (version 0.0.4); /healthz is 200, or 503 while the worker drains,
// while its broker connection is down, or while one of its queues cannot be
// consumed.
//
//   celeriac_tasks_total{task,state}                 counter
//   celeriac_task_duration_seconds{task,state}       histogram (start to outcome)
//   celeriac_task_wait_seconds{queue}                histogram (sent, or due, to start)
//   celeriac_worker_inflight                         gauge (jobs in the pool)
//   celeriac_pool_busy_ratio                         gauge (busy slots / pool size)
//   celeriac_broker_reconnects_total                 counter
//   celeriac_store_pending                           gauge (state changes not yet committed)
//
// Threading: the loop thread records; any thread renders. One mutex.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "celeriac/core/job_state.hpp"

namespace celeriac::worker {

struct WorkerGauges {
  std::uint64_t inflight = 0;
  double pool_busy_ratio = 0;
  std::uint64_t broker_reconnects = 0;
  std::uint64_t store_pending = 0;
  bool draining = false;
  bool broker_connected = false;
  std::string unhealthy_queue; // a queue that cannot be consumed, with why; empty when none
};

struct Health {
  bool ok = false;
  std::string reason; // why not, when not ok
};

class WorkerMetrics {
 public:
  // Upper bounds of the duration histogram's buckets, in seconds.
  static const std::vector<double>& duration_buckets();
  static const std::vector<double>& wait_buckets();

  void job_finished(const std::string& task, JobState state, double seconds);
  // A job of QUEUE started SECONDS after it was sent (or, with an eta, after it was due).
  void job_waited(const std::string& queue, double seconds);
  void set_gauges(WorkerGauges gauges);

  std::string prometheus_text() const;
  Health health() const;

 private:
  struct Histogram {
    std::vector<std::uint64_t> buckets; // cumulative at render time; per bucket here
    double sum = 0;
    std::uint64_t count = 0;
    void observe(const std::vector<double>& bounds, double value);
    void render(std::string& out, const std::string& name, const std::string& labels,
                const std::vector<double>& bounds) const;
  };
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Histogram> durations_; // (task, state)
  std::map<std::string, Histogram> waits_;                             // by queue
  WorkerGauges gauges_;
};

} // namespace celeriac::worker
