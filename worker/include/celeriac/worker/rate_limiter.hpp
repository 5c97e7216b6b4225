// RateLimiter: per-task rate limits of one worker (issue 6, "per-task rate
// limit"), as Celery has them: per worker, not global. A limit of N per
// period spaces a task's starts evenly, one every period / N (a token bucket
// holding a single token, like kombu's), so "10/m" starts one job every 6 s.
// A job that arrives less than a second before its task's next free slot
// reserves it and is held on a timer until then, so other tasks run on
// meanwhile; one further away goes back to the broker's delay levels without
// a reservation, and competes again when it returns.
// A limit changed at runtime (the control command rate_limit) applies to the
// jobs that arrive from then on.
//
// Threading: the loop thread only. Pure: the caller gives the time.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "celeriac/core/config.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac::worker {

class RateLimiter {
 public:
  // Overrides TASK's limit from the code and the configuration: a rate, or
  // nullopt to lift any limit.
  void set_override(const std::string& task, std::optional<RateLimit> rate);

  // The limit in force for TASK, whose definition says DEFINED.
  std::optional<RateLimit> effective(const std::string& task,
                                     const std::optional<RateLimit>& defined) const;

  // How long until TASK's next free start slot; reserves nothing.
  Duration next_slot_in(const std::string& task, Timestamp now) const;

  // Reserves TASK's next start slot under RATE at NOW and returns how long
  // the job must wait for it (zero: start now).
  Duration reserve(const std::string& task, const RateLimit& rate, Timestamp now);

 private:
  std::map<std::string, std::optional<RateLimit>, std::less<>> overrides_;
  std::map<std::string, Timestamp, std::less<>> next_free_; // per task: the earliest free slot
};

} // namespace celeriac::worker
