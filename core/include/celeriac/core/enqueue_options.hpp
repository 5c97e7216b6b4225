// EnqueueOptions: what a caller may say about a job it enqueues, and
// make_job(), which validates them and builds the Job. Every rejection is an
// InvalidInput naming the option ("priority: must be between 0 and 9, got 12").
// Core has no clock or random source: the caller passes `now` and the new id.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "celeriac/core/header_value.hpp"
#include "celeriac/core/job.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

struct EnqueueOptions {
  std::optional<std::string> queue;
  std::optional<int> priority;
  std::optional<Duration> countdown;  // run after this long (exclusive with eta)
  std::optional<Timestamp> eta;       // run at or after this time
  std::optional<Duration> expires_in; // expire this long after now (exclusive with expires)
  std::optional<Timestamp> expires;   // expire at this time
  std::optional<Duration> soft_time_limit;
  std::optional<Duration> hard_time_limit;
  std::optional<JobId> id; // a caller-chosen id (idempotent enqueue)
  std::optional<JobId> parent_id;
  std::optional<JobId> root_id;
  std::optional<std::string> group;
  bool ignore_result = false;
  HeaderTable headers; // extra headers to carry
};

// What the task's configuration says when the options are silent.
struct JobDefaults {
  std::string queue = "default";
  int priority = 0;
  std::optional<Duration> soft_time_limit;
  std::optional<Duration> hard_time_limit;
};

inline constexpr std::size_t kMaxTaskNameLength = 255;

// Throws InvalidInput if TASK is empty, too long, or has control characters or spaces.
void validate_task_name(const std::string& task);

// Validates everything and builds the job. NEW_ID is used unless options.id is set.
Job make_job(const std::string& task, nlohmann::json args, nlohmann::json kwargs,
             const EnqueueOptions& options, const JobDefaults& defaults, JobId new_id,
             Timestamp now);

} // namespace celeriac
