#include "celeriac/worker/worker_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace celeriac::worker {
namespace {

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void gauge(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

} // namespace

const std::vector<double>& WorkerMetrics::duration_buckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,     2.5,  5,     10,   30,  60,   300};
  return buckets;
}

const std::vector<double>& WorkerMetrics::wait_buckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                              2.5,   5,    10,    30,   60,  300,  900, 3600};
  return buckets;
}

void WorkerMetrics::Histogram::observe(const std::vector<double>& bounds, double value) {
  if (buckets.empty()) buckets.assign(bounds.size(), 0);
  const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (bucket != bounds.end()) ++buckets[static_cast<std::size_t>(bucket - bounds.begin())];
  sum += value;
  ++count;
}

void WorkerMetrics::Histogram::render(std::string& out, const std::string& name,
                                      const std::string& labels,
                                      const std::vector<double>& bounds) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets[i];
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels, sum);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, count);
}

void WorkerMetrics::job_finished(const std::string& task, JobState state, double seconds) {
  std::lock_guard lock(mutex_);
  durations_[{task, std::string(to_string(state))}].observe(duration_buckets(), seconds);
}

void WorkerMetrics::job_waited(const std::string& queue, double seconds) {
  std::lock_guard lock(mutex_);
  waits_[queue].observe(wait_buckets(), std::max(seconds, 0.0));
}

void WorkerMetrics::set_gauges(WorkerGauges gauges) {
  std::lock_guard lock(mutex_);
  gauges_ = std::move(gauges);
}

std::string WorkerMetrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out =
      "# HELP celeriac_tasks_total Jobs that reached an outcome, by task and state.\n"
      "# TYPE celeriac_tasks_total counter\n";
  for (const auto& [key, h] : durations_) {
    out += fmt::format("celeriac_tasks_total{{task=\"{}\",state=\"{}\"}} {}\n", label(key.first),
                       key.second, h.count);
  }
  out +=
      "# HELP celeriac_task_duration_seconds Time from a job's start to its outcome.\n"
      "# TYPE celeriac_task_duration_seconds histogram\n";
  for (const auto& [key, h] : durations_) {
    h.render(out, "celeriac_task_duration_seconds",
             fmt::format("task=\"{}\",state=\"{}\"", label(key.first), key.second),
             duration_buckets());
  }
  out +=
      "# HELP celeriac_task_wait_seconds Time from a job's send (or its eta) to its start.\n"
      "# TYPE celeriac_task_wait_seconds histogram\n";
  for (const auto& [queue, h] : waits_)
    h.render(out, "celeriac_task_wait_seconds", fmt::format("queue=\"{}\"", label(queue)),
             wait_buckets());
  gauge(out, "celeriac_worker_inflight", "gauge", "Jobs handed to the pool and not finished.",
        static_cast<double>(gauges_.inflight));
  gauge(out, "celeriac_pool_busy_ratio", "gauge", "Busy pool slots over the pool size.",
        gauges_.pool_busy_ratio);
  gauge(out, "celeriac_broker_reconnects_total", "counter",
        "Times the broker connection was re-established.",
        static_cast<double>(gauges_.broker_reconnects));
  gauge(out, "celeriac_store_pending", "gauge", "State changes waiting to be committed.",
        static_cast<double>(gauges_.store_pending));
  return out;
}

Health WorkerMetrics::health() const {
  std::lock_guard lock(mutex_);
  if (gauges_.draining) return {false, "draining: shutting down"};
  if (!gauges_.broker_connected) return {false, "broker: not connected"};
  if (!gauges_.unhealthy_queue.empty()) return {false, gauges_.unhealthy_queue};
  return {true, ""};
}

} // namespace celeriac::worker
