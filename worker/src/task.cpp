#include "celeriac/worker/task.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"

namespace celeriac {

TaskFailure::TaskFailure(ErrorKind kind, const std::string& message, std::optional<int> http_status,
                         std::optional<Duration> retry_after)
    : std::runtime_error(message),
      kind_(kind),
      http_status_(http_status),
      retry_after_(retry_after) {}

void TaskContext::checkpoint() const {
  if (cancelled()) throw SoftTimeLimitExceeded();
}

void TaskContext::progress(double fraction, std::string note) {
  progress_.store(std::clamp(fraction, 0.0, 1.0), std::memory_order_relaxed);
  spdlog::debug("task {} [{}]: {:.0f}% {}", job_.task, job_.id.str(), fraction * 100, note);
}

void TaskRegistry::add(const std::string& name, TaskFunction run, TaskDefaults defaults) {
  validate_task_name(name);
  if (!run) throw InvalidInput("task", name + ": no function given");
  if (tasks_.contains(name)) throw InvalidInput("task", name + ": registered twice");
  tasks_.emplace(name, TaskDefinition{name, std::move(run), std::move(defaults)});
}

const TaskDefinition* TaskRegistry::find(const std::string& name) const {
  const auto it = tasks_.find(name);
  return it == tasks_.end() ? nullptr : &it->second;
}

void TaskRegistry::set_defaults(const std::string& name, TaskDefaults defaults) {
  const auto it = tasks_.find(name);
  if (it == tasks_.end()) throw InvalidInput("task", name + ": not registered");
  it->second.defaults = std::move(defaults);
}

std::vector<std::string> TaskRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, definition] : tasks_)
    out.push_back(name);
  return out;
}

} // namespace celeriac
