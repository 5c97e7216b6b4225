#include "celeriac/worker/task_outcome.hpp"

#include <cxxabi.h>

#include <memory>
#include <typeinfo>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac::worker {
namespace {

std::string demangled(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

// The exception in flight, as a Failed outcome.
Failed current_failure() {
  try {
    throw;
  } catch (const SoftTimeLimitExceeded& e) {
    return Failed{"SoftTimeLimitExceeded", ErrorKind::Timeout, e.what(), {}, {}};
  } catch (const TaskFailure& e) {
    return Failed{"TaskFailure", e.kind(), e.what(), e.http_status(), e.retry_after()};
  } catch (const InvalidInput& e) {
    return Failed{demangled(typeid(e)), ErrorKind::Validation, e.what(), {}, {}};
  } catch (const std::exception& e) {
    return Failed{demangled(typeid(e)), ErrorKind::Unclassified, e.what(), {}, {}};
  } catch (...) {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return Failed{type ? demangled(*type) : "unknown",
                  ErrorKind::Unclassified,
                  "a task threw something that is not a std::exception",
                  {},
                  {}};
  }
}

nlohmann::json ms(const std::optional<Duration>& d) {
  if (!d) return nullptr;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
}

std::optional<Duration> from_ms(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return std::chrono::milliseconds(j.at(key).get<std::int64_t>());
}

OutcomePlan failure_plan(std::string type, std::string message) {
  OutcomePlan plan;
  plan.state = JobState::Failure;
  plan.error_type = std::move(type);
  plan.error_message = std::move(message);
  plan.dead_letter = true;
  return plan;
}

OutcomePlan decide_plan(const Job& job, std::string type, const TaskError& error,
                        std::optional<Duration> hint, const RetryPolicy& policy,
                        const UniformRandom& random) {
  const RetryDecision decision = decide(policy, job.retries, error, hint, random);
  if (const auto* retry = std::get_if<RetryAt>(&decision)) {
    OutcomePlan plan;
    plan.state = JobState::Retry;
    plan.error_type = std::move(type);
    plan.error_message = error.message;
    plan.retry_delay = retry->delay;
    return plan;
  }
  return failure_plan(std::move(type),
                      fmt::format("{} ({})", error.message, std::get<GiveUp>(decision).reason));
}

} // namespace

TaskOutcome run_task(const TaskDefinition& definition, TaskContext& context) {
  try {
    return Succeeded{definition.run(context)};
  } catch (const Retry& retry) {
    return RetryRequested{retry.after, retry.reason};
  } catch (const Reject& reject) {
    return Rejected{reject.reason};
  } catch (...) {
    return current_failure();
  }
}

nlohmann::json to_json(const TaskOutcome& outcome) {
  return std::visit(
      [](const auto& o) -> nlohmann::json {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Succeeded>) {
          return {{"outcome", "success"}, {"result", o.result}};
        } else if constexpr (std::is_same_v<T, RetryRequested>) {
          return {{"outcome", "retry"}, {"after_ms", ms(o.after)}, {"reason", o.reason}};
        } else if constexpr (std::is_same_v<T, Rejected>) {
          return {{"outcome", "reject"}, {"reason", o.reason}};
        } else {
          return {{"outcome", "failure"},
                  {"type", o.type},
                  {"kind", to_string(o.kind)},
                  {"message", o.message},
                  {"http_status", o.http_status ? nlohmann::json(*o.http_status) : nullptr},
                  {"retry_after_ms", ms(o.retry_after)}};
        }
      },
      outcome);
}

TaskOutcome outcome_from_json(const nlohmann::json& j) {
  try {
    const std::string kind = j.at("outcome").get<std::string>();
    if (kind == "success") return Succeeded{j.at("result")};
    if (kind == "retry")
      return RetryRequested{from_ms(j, "after_ms"), j.at("reason").get<std::string>()};
    if (kind == "reject") return Rejected{j.at("reason").get<std::string>()};
    if (kind == "failure") {
      Failed f{j.at("type").get<std::string>(), ErrorKind::Unclassified,
               j.at("message").get<std::string>(), std::nullopt, from_ms(j, "retry_after_ms")};
      if (const auto parsed = parse_error_kind(j.at("kind").get<std::string>())) f.kind = *parsed;
      if (j.contains("http_status") && !j.at("http_status").is_null())
        f.http_status = j.at("http_status").get<int>();
      return f;
    }
    throw DecodeError("outcome", "unknown outcome '" + kind + "'");
  } catch (const nlohmann::json::exception& e) {
    throw DecodeError("outcome", e.what());
  }
}

OutcomePlan plan_outcome(const Job& job, const TaskOutcome& outcome, const RetryPolicy& policy,
                         const UniformRandom& random) {
  if (const auto* ok = std::get_if<Succeeded>(&outcome)) {
    OutcomePlan plan;
    plan.result = ok->result;
    return plan;
  }
  if (const auto* rejected = std::get_if<Rejected>(&outcome))
    return failure_plan("Reject", rejected->reason);
  if (const auto* retry = std::get_if<RetryRequested>(&outcome)) {
    const TaskError error{ErrorKind::RetryRequested, std::nullopt, retry->reason};
    return decide_plan(job, "Retry", error, retry->after, policy, random);
  }
  const auto& failed = std::get<Failed>(outcome);
  const TaskError error{failed.kind, failed.http_status, failed.message};
  return decide_plan(job, failed.type, error, failed.retry_after, policy, random);
}

} // namespace celeriac::worker
