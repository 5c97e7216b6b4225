// What became of one run of a task (TaskOutcome), and what the worker does
// about it (OutcomePlan): record SUCCESS, or RETRY and publish the job again
// after a delay, or FAILURE and dead-letter it. plan_outcome() is pure: the
// random source for jitter comes from the caller.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "celeriac/core/job.hpp"
#include "celeriac/core/job_state.hpp"
#include "celeriac/core/retry_policy.hpp"
#include "celeriac/worker/task.hpp"

namespace celeriac::worker {

struct Succeeded {
  nlohmann::json result;
  bool operator==(const Succeeded&) const = default;
};
struct RetryRequested {
  std::optional<Duration> after;
  std::string reason;
  bool operator==(const RetryRequested&) const = default;
};
struct Rejected {
  std::string reason;
  bool operator==(const Rejected&) const = default;
};
struct Failed {
  std::string type; // the exception's type, e.g. "std::out_of_range"
  ErrorKind kind = ErrorKind::Unclassified;
  std::string message;
  std::optional<int> http_status;
  std::optional<Duration> retry_after;
  bool operator==(const Failed&) const = default;
};
using TaskOutcome = std::variant<Succeeded, RetryRequested, Rejected, Failed>;

// Runs DEFINITION for CONTEXT's job and turns whatever it did into an outcome.
// Never throws: every exception becomes Failed or one of the others.
TaskOutcome run_task(const TaskDefinition& definition, TaskContext& context);

// Outcomes cross the pipe from a pool child as JSON. outcome_from_json throws
// DecodeError naming what is wrong.
nlohmann::json to_json(const TaskOutcome& outcome);
TaskOutcome outcome_from_json(const nlohmann::json& json);

struct OutcomePlan {
  JobState state = JobState::Success; // SUCCESS, RETRY or FAILURE
  std::optional<nlohmann::json> result;
  std::string error_type; // empty on SUCCESS
  std::string error_message;
  std::optional<Duration> retry_delay; // RETRY: publish the job, retries + 1, after this
  bool dead_letter = false;            // FAILURE: publish it to "<queue>.dead" with the reason
  bool operator==(const OutcomePlan&) const = default;
};

// Every FAILURE is dead-lettered (rejected, permanent, or retries exhausted),
// so an operator can inspect and replay what did not complete.
OutcomePlan plan_outcome(const Job& job, const TaskOutcome& outcome, const RetryPolicy& policy,
                         const UniformRandom& random);

} // namespace celeriac::worker
