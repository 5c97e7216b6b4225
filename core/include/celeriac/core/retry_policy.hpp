// RetryPolicy and decide(): whether a failed attempt runs again, and when.
// A pure function of (policy, attempt, error, hint, random source): the
// caller brings the randomness, so tests can pin it.
//
// Errors are classed transient (network, timeout, HTTP 429 and 5xx, broker or
// database unavailable, worker lost) or permanent (validation, other HTTP 4xx,
// unknown task). An error a task throws without saying its kind is
// `Unclassified`: retried under retry_on = all, not under transient, because
// retrying a job that is not known to be safe to retry is the riskier default.
// A task's explicit Retry{} is always honoured while retries remain.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "celeriac/core/time.hpp"

namespace celeriac {

struct FixedBackoff {
  Duration delay = std::chrono::seconds(60);
  bool operator==(const FixedBackoff&) const = default;
};

// delay(n) = base * factor^n for the n-th retry (n from 0), capped at the policy's max_delay.
struct ExponentialBackoff {
  Duration base = std::chrono::seconds(1);
  double factor = 2.0;
  bool operator==(const ExponentialBackoff&) const = default;
};

using Backoff = std::variant<FixedBackoff, ExponentialBackoff>;

enum class Jitter {
  None,  // exactly the computed delay
  Full,  // uniform in [0, delay]
  Equal, // delay/2 + uniform in [0, delay/2]
};

enum class RetryOn { Transient, All, None };

struct RetryPolicy {
  int max_retries = 3;
  Backoff backoff = ExponentialBackoff{};
  Duration max_delay = std::chrono::hours(1); // cap on every delay, hints included
  Jitter jitter = Jitter::Full;
  RetryOn retry_on = RetryOn::Transient;
  bool operator==(const RetryPolicy&) const = default;
};

enum class ErrorKind {
  Network,
  Timeout,
  Http, // see TaskError::http_status
  BrokerUnavailable,
  DatabaseUnavailable,
  WorkerLost,
  Validation,
  UnknownTask,
  RetryRequested, // the task threw Retry{}
  Unclassified,   // any other exception from a task
};

struct TaskError {
  ErrorKind kind = ErrorKind::Unclassified;
  std::optional<int> http_status; // for ErrorKind::Http
  std::string message;
};

bool is_transient(const TaskError& error);

// "transient", "all", "none" and the like, for config and logs.
std::string_view to_string(Jitter jitter);
std::string_view to_string(RetryOn retry_on);
std::string_view to_string(ErrorKind kind);
std::optional<Jitter> parse_jitter(std::string_view text);
std::optional<RetryOn> parse_retry_on(std::string_view text);
std::optional<ErrorKind> parse_error_kind(std::string_view text);

struct RetryAt {
  Duration delay;
  bool operator==(const RetryAt&) const = default;
};
struct GiveUp {
  std::string reason;
  bool operator==(const GiveUp&) const = default;
};
using RetryDecision = std::variant<RetryAt, GiveUp>;

// Returns a uniform double in [0, 1).
using UniformRandom = std::function<double()>;

// The delay before retry number ATTEMPT + 1 (ATTEMPT = retries done so far),
// before jitter, capped at max_delay.
Duration backoff_delay(const RetryPolicy& policy, int attempt);

// Decides what happens after a failed attempt. HINT is a Retry-After or a
// task's Retry{after}: it replaces the computed delay and its jitter, capped at max_delay.
RetryDecision decide(const RetryPolicy& policy, int attempt, const TaskError& error,
                     std::optional<Duration> hint, const UniformRandom& random);

} // namespace celeriac
