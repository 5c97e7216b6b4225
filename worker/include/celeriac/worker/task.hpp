// The task API: what a job's code sees (TaskContext), how it says what
// happened (return a value, or throw Retry, Reject, TaskFailure or anything
// else), and the registry of tasks by name (DESIGN.md "Worker runtime").
//
//   registry.add("jira.sync_issue", [](celeriac::TaskContext& ctx) {
//     for (const auto& page : pages(ctx.args())) {
//       ctx.checkpoint();                     // throws once the soft limit passed
//       ctx.log(spdlog::level::info, "page {}", page.number);
//       if (rate_limited) throw celeriac::Retry{std::chrono::seconds(30), "429 from JIRA"};
//       ...
//     }
//     return nlohmann::json{{"synced", n}};
//   }, {.queue = "high"});
//
// Threading: a task runs on a pool thread or in a pool child, one job at a
// time per TaskContext; cancelled() may be set from another thread (the
// soft time limit), everything else is the task's own. A registry is filled
// before the worker starts and only read afterwards.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "celeriac/core/config.hpp"
#include "celeriac/core/job.hpp"
#include "celeriac/core/retry_policy.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

// Thrown by a task: run me again after AFTER (the policy's backoff when absent),
// while retries remain. REASON is recorded as the RETRY's message.
struct Retry {
  std::optional<Duration> after;
  std::string reason;
};

// Thrown by a task: this job must never run again (FAILURE + dead letter, no retry).
struct Reject {
  std::string reason;
};

// Thrown by a task to say what kind of error it met, so the retry policy can
// tell transient from permanent (core/retry_policy.hpp). Any other exception
// is Unclassified.
class TaskFailure : public std::runtime_error {
 public:
  TaskFailure(ErrorKind kind, const std::string& message,
              std::optional<int> http_status = std::nullopt,
              std::optional<Duration> retry_after = std::nullopt);
  ErrorKind kind() const noexcept { return kind_; }
  std::optional<int> http_status() const noexcept { return http_status_; }
  std::optional<Duration> retry_after() const noexcept { return retry_after_; } // Retry-After

 private:
  ErrorKind kind_;
  std::optional<int> http_status_;
  std::optional<Duration> retry_after_;
};

// Thrown by TaskContext::checkpoint() once the soft time limit has passed.
class SoftTimeLimitExceeded : public std::runtime_error {
 public:
  SoftTimeLimitExceeded() : std::runtime_error("soft time limit exceeded") {}
};

class TaskContext {
 public:
  explicit TaskContext(const Job& job) : job_(job) {}

  const Job& job() const { return job_; }
  const nlohmann::json& args() const { return job_.args; }
  const nlohmann::json& kwargs() const { return job_.kwargs; }

  // True once the soft time limit passed or the job was revoked with terminate.
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Throws SoftTimeLimitExceeded when cancelled(); call it between steps.
  void checkpoint() const;

  // Logs LEVEL through spdlog, with the task's name and the job's id in front
  // (the worker's log: text or JSON as configured):
  //   ctx.log(spdlog::level::info, "synced {} pages", pages);
  template <typename... Args>
  void log(spdlog::level::level_enum level, fmt::format_string<Args...> format,
           Args&&... args) const {
    spdlog::log(level, "task {} [{}]: {}", job_.task, job_.id.str(),
                fmt::format(format, std::forward<Args>(args)...));
  }

  // The task's progress, 0..1, and a note (logged at debug level).
  void progress(double fraction, std::string note);
  double progress_fraction() const { return progress_.load(std::memory_order_relaxed); }

  // Set by the pool, from any thread.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }

 private:
  const Job& job_;
  std::atomic<bool> cancelled_{false};
  std::atomic<double> progress_{0.0};
};

using TaskFunction = std::function<nlohmann::json(TaskContext&)>;

// What a task's code says about itself; the config's [tasks] entries override it.
struct TaskDefaults {
  std::string queue = "default";
  int priority = 0;
  std::optional<Duration> soft_time_limit;
  std::optional<Duration> hard_time_limit;
  RetryPolicy retry;
  int max_redeliveries = 3;
  std::optional<RateLimit> rate_limit; // per worker, a token bucket; none: unlimited
};

struct TaskDefinition {
  std::string name;
  TaskFunction run;
  TaskDefaults defaults;
};

class TaskRegistry {
 public:
  // Throws InvalidInput (field "task") for a bad name or one already registered.
  void add(const std::string& name, TaskFunction run, TaskDefaults defaults = {});
  const TaskDefinition* find(const std::string& name) const;
  // Replaces the defaults of task NAME (the config's [tasks] over the code's,
  // task_config.hpp). Throws InvalidInput (field "task") for an unknown name.
  void set_defaults(const std::string& name, TaskDefaults defaults);
  std::vector<std::string> names() const;

 private:
  std::map<std::string, TaskDefinition, std::less<>> tasks_;
};

} // namespace celeriac
