#include "celeriac/core/retry_policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace celeriac {

bool is_transient(const TaskError& error) {
  switch (error.kind) {
    case ErrorKind::Network:
    case ErrorKind::Timeout:
    case ErrorKind::BrokerUnavailable:
    case ErrorKind::DatabaseUnavailable:
    case ErrorKind::WorkerLost:
    case ErrorKind::RetryRequested:
      return true;
    case ErrorKind::Http: {
      const int status = error.http_status.value_or(0);
      return status == 429 || status == 408 || (status >= 500 && status <= 599);
    }
    case ErrorKind::Validation:
    case ErrorKind::UnknownTask:
    case ErrorKind::Unclassified:
      return false;
  }
  return false;
}

std::string_view to_string(Jitter jitter) {
  switch (jitter) {
    case Jitter::None:
      return "none";
    case Jitter::Full:
      return "full";
    case Jitter::Equal:
      return "equal";
  }
  return "?";
}

std::string_view to_string(RetryOn retry_on) {
  switch (retry_on) {
    case RetryOn::Transient:
      return "transient";
    case RetryOn::All:
      return "all";
    case RetryOn::None:
      return "none";
  }
  return "?";
}

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Network:
      return "network";
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Http:
      return "http";
    case ErrorKind::BrokerUnavailable:
      return "broker_unavailable";
    case ErrorKind::DatabaseUnavailable:
      return "database_unavailable";
    case ErrorKind::WorkerLost:
      return "worker_lost";
    case ErrorKind::Validation:
      return "validation";
    case ErrorKind::UnknownTask:
      return "unknown_task";
    case ErrorKind::RetryRequested:
      return "retry_requested";
    case ErrorKind::Unclassified:
      return "unclassified";
  }
  return "?";
}

std::optional<Jitter> parse_jitter(std::string_view text) {
  for (Jitter j : {Jitter::None, Jitter::Full, Jitter::Equal}) {
    if (to_string(j) == text) return j;
  }
  return std::nullopt;
}

std::optional<ErrorKind> parse_error_kind(std::string_view text) {
  for (ErrorKind k :
       {ErrorKind::Network, ErrorKind::Timeout, ErrorKind::Http, ErrorKind::BrokerUnavailable,
        ErrorKind::DatabaseUnavailable, ErrorKind::WorkerLost, ErrorKind::Validation,
        ErrorKind::UnknownTask, ErrorKind::RetryRequested, ErrorKind::Unclassified}) {
    if (to_string(k) == text) return k;
  }
  return std::nullopt;
}

std::optional<RetryOn> parse_retry_on(std::string_view text) {
  for (RetryOn r : {RetryOn::Transient, RetryOn::All, RetryOn::None}) {
    if (to_string(r) == text) return r;
  }
  return std::nullopt;
}

Duration backoff_delay(const RetryPolicy& policy, int attempt) {
  const double cap = static_cast<double>(policy.max_delay.count());
  double micros = 0;
  if (const auto* fixed = std::get_if<FixedBackoff>(&policy.backoff)) {
    micros = static_cast<double>(fixed->delay.count());
  } else {
    const auto& exp = std::get<ExponentialBackoff>(policy.backoff);
    // pow() may overflow to inf for large attempts; the cap below absorbs it.
    micros = static_cast<double>(exp.base.count()) * std::pow(exp.factor, std::max(attempt, 0));
  }
  if (!(micros >= 0)) micros = 0; // NaN or negative from odd factors
  return Duration(static_cast<Duration::rep>(std::min(micros, cap)));
}

namespace {

Duration apply_jitter(Jitter jitter, Duration delay, const UniformRandom& random) {
  const double d = static_cast<double>(delay.count());
  const double r = std::clamp(random(), 0.0, 1.0);
  switch (jitter) {
    case Jitter::None:
      return delay;
    case Jitter::Full:
      return Duration(std::llround(d * r));
    case Jitter::Equal:
      return Duration(std::llround(d / 2 + d / 2 * r));
  }
  return delay;
}

std::optional<std::string> refusal(const RetryPolicy& policy, int attempt, const TaskError& error) {
  if (attempt >= policy.max_retries) {
    return fmt::format("max retries ({}) exceeded", policy.max_retries);
  }
  if (error.kind == ErrorKind::RetryRequested) return std::nullopt;
  switch (policy.retry_on) {
    case RetryOn::None:
      return "retries are disabled for this task";
    case RetryOn::All:
      return std::nullopt;
    case RetryOn::Transient:
      if (is_transient(error)) return std::nullopt;
      if (error.http_status) {
        return fmt::format("permanent error (HTTP {}) is not retried", *error.http_status);
      }
      return fmt::format("permanent error ({}) is not retried", to_string(error.kind));
  }
  return std::nullopt;
}

} // namespace

RetryDecision decide(const RetryPolicy& policy, int attempt, const TaskError& error,
                     std::optional<Duration> hint, const UniformRandom& random) {
  if (auto reason = refusal(policy, attempt, error)) return GiveUp{std::move(*reason)};
  if (hint) {
    return RetryAt{std::clamp(*hint, Duration::zero(), policy.max_delay)};
  }
  return RetryAt{apply_jitter(policy.jitter, backoff_delay(policy, attempt), random)};
}

} // namespace celeriac
