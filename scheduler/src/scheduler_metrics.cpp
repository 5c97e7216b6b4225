#include "celeriac/scheduler/scheduler_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace celeriac::scheduler {
namespace {

constexpr std::size_t kMaxRecentLags = 100000;

// A label value with Prometheus's escapes (backslash, quote, newline).
std::string label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

} // namespace

const std::vector<double>& SchedulerMetrics::lag_bounds() {
  static const std::vector<double> bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,    2.5,   5,    10,  60};
  return bounds;
}

void SchedulerMetrics::set_leader(bool leader) {
  const std::lock_guard lock(mutex_);
  if (leader != leader_) ++leadership_changes_;
  leader_ = leader;
}

void SchedulerMetrics::count_fires(const std::string& schedule, std::uint64_t n) {
  const std::lock_guard lock(mutex_);
  fires_[schedule] += n;
}

void SchedulerMetrics::count_missed(const std::string& schedule, std::uint64_t n) {
  const std::lock_guard lock(mutex_);
  missed_[schedule] += n;
}

void SchedulerMetrics::count_publish_failures(std::uint64_t n) {
  const std::lock_guard lock(mutex_);
  publish_failures_ += n;
}

void SchedulerMetrics::observe_lag(Duration lag) {
  const double seconds = std::chrono::duration<double>(lag).count();
  const std::lock_guard lock(mutex_);
  const auto& bounds = lag_bounds();
  const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  ++lag_buckets_[static_cast<std::size_t>(bucket)];
  lag_sum_ += seconds;
  ++lag_count_;
  if (recent_lags_.size() == kMaxRecentLags) recent_lags_.pop_front();
  recent_lags_.push_back(seconds);
}

bool SchedulerMetrics::leader() const {
  const std::lock_guard lock(mutex_);
  return leader_;
}

std::uint64_t SchedulerMetrics::leadership_changes() const {
  const std::lock_guard lock(mutex_);
  return leadership_changes_;
}

std::uint64_t SchedulerMetrics::fires_total() const {
  const std::lock_guard lock(mutex_);
  std::uint64_t total = 0;
  for (const auto& [name, n] : fires_)
    total += n;
  return total;
}

std::vector<double> SchedulerMetrics::recent_lags() const {
  const std::lock_guard lock(mutex_);
  return {recent_lags_.begin(), recent_lags_.end()};
}

std::string SchedulerMetrics::prometheus_text() const {
  const std::lock_guard lock(mutex_);
  std::string out;
  out +=
      "# HELP celeriac_scheduler_leader 1 while this replica holds the leader lock.\n"
      "# TYPE celeriac_scheduler_leader gauge\n";
  out += fmt::format("celeriac_scheduler_leader {}\n", leader_ ? 1 : 0);
  out +=
      "# HELP celeriac_scheduler_leadership_changes_total Times this replica became leader or"
      " stood down.\n"
      "# TYPE celeriac_scheduler_leadership_changes_total counter\n";
  out += fmt::format("celeriac_scheduler_leadership_changes_total {}\n", leadership_changes_);
  out +=
      "# HELP celeriac_scheduler_fires_total Fires this replica published, by schedule.\n"
      "# TYPE celeriac_scheduler_fires_total counter\n";
  for (const auto& [name, n] : fires_) {
    out += fmt::format("celeriac_scheduler_fires_total{{schedule=\"{}\"}} {}\n", label(name), n);
  }
  out +=
      "# HELP celeriac_scheduler_missed_fires_total Fires dropped by the catch-up policy.\n"
      "# TYPE celeriac_scheduler_missed_fires_total counter\n";
  for (const auto& [name, n] : missed_) {
    out += fmt::format("celeriac_scheduler_missed_fires_total{{schedule=\"{}\"}} {}\n", label(name),
                       n);
  }
  out +=
      "# HELP celeriac_scheduler_publish_failures_total Fires not confirmed within their pass"
      " (marked when the confirm comes, or published again if refused).\n"
      "# TYPE celeriac_scheduler_publish_failures_total counter\n";
  out += fmt::format("celeriac_scheduler_publish_failures_total {}\n", publish_failures_);
  out +=
      "# HELP celeriac_scheduler_fire_lag_seconds From a fire's due time to the broker's"
      " confirm.\n"
      "# TYPE celeriac_scheduler_fire_lag_seconds histogram\n";
  std::uint64_t cumulative = 0;
  const auto& bounds = lag_bounds();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += lag_buckets_[i];
    out += fmt::format("celeriac_scheduler_fire_lag_seconds_bucket{{le=\"{}\"}} {}\n", bounds[i],
                       cumulative);
  }
  out += fmt::format("celeriac_scheduler_fire_lag_seconds_bucket{{le=\"+Inf\"}} {}\n", lag_count_);
  out += fmt::format("celeriac_scheduler_fire_lag_seconds_sum {}\n", lag_sum_);
  out += fmt::format("celeriac_scheduler_fire_lag_seconds_count {}\n", lag_count_);
  return out;
}

} // namespace celeriac::scheduler
