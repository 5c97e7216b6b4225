// What a scheduler reports on /metrics and /healthz: whether it leads, how
// often leadership changed, fires per schedule, missed fires, and the fire
// lag (from a fire's due time to the broker's confirm).
//
// Threading: every method may be called from any thread (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "celeriac/core/time.hpp"

namespace celeriac::scheduler {

class SchedulerMetrics {
 public:
  // Fire-lag histogram bounds, in seconds.
  static const std::vector<double>& lag_bounds();

  void set_leader(bool leader);
  void count_fires(const std::string& schedule, std::uint64_t n);
  void count_missed(const std::string& schedule, std::uint64_t n);
  void count_publish_failures(std::uint64_t n);
  void observe_lag(Duration lag);

  bool leader() const;
  std::uint64_t leadership_changes() const;
  std::uint64_t fires_total() const;
  // The last lags observed (at most 100,000), in seconds, for benchmarks.
  std::vector<double> recent_lags() const;

  // Prometheus text exposition format 0.0.4.
  std::string prometheus_text() const;

 private:
  mutable std::mutex mutex_;
  bool leader_ = false;
  std::uint64_t leadership_changes_ = 0;
  std::map<std::string, std::uint64_t> fires_;
  std::map<std::string, std::uint64_t> missed_;
  std::uint64_t publish_failures_ = 0;
  std::vector<std::uint64_t> lag_buckets_ = std::vector<std::uint64_t>(lag_bounds().size() + 1);
  double lag_sum_ = 0;
  std::uint64_t lag_count_ = 0;
  std::deque<double> recent_lags_;
};

} // namespace celeriac::scheduler
