#include "celeriac/worker/task_config.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "celeriac/worker/external_task.hpp"

namespace celeriac::worker {
namespace {

template <typename T>
void take(const TaskConfig& settings, std::string_view key, const T& value, T& into) {
  if (settings.sets(key)) into = value;
}

// tasks.<name>.command, the name quoted unless it is a bare TOML key (as
// the config's own errors write it).
std::string command_key(const std::string& name) {
  const bool bare = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
  return bare ? fmt::format("tasks.{}.command", name) : fmt::format("tasks.\"{}\".command", name);
}

void register_external(const Config& config, const TaskConfig& entry, TaskRegistry& registry) {
  if (registry.find(entry.pattern) != nullptr) {
    throw ConfigError(command_key(entry.pattern),
                      "this worker already implements the task in C++; remove one of the two");
  }
  const TaskConfig settings = config.task(entry.pattern);
  // No code speaks for it: the file's settings, its built-in defaults included.
  TaskDefaults defaults = apply_task_settings({}, settings);
  defaults.queue = settings.queue; // the first configured queue when there is no "default"
  ExternalCommand command;
  command.command = entry.command;
  command.env = entry.env;
  command.max_output_bytes = config.broker.max_body_bytes;
  command.hard_time_limit = defaults.hard_time_limit;
  registry.add(entry.pattern, external_command_task(std::move(command)), defaults);
}

} // namespace

TaskDefaults apply_task_settings(TaskDefaults defaults, const TaskConfig& settings) {
  take(settings, "queue", settings.queue, defaults.queue);
  take(settings, "priority", settings.priority, defaults.priority);
  take(settings, "soft_time_limit", settings.soft_time_limit, defaults.soft_time_limit);
  take(settings, "hard_time_limit", settings.hard_time_limit, defaults.hard_time_limit);
  take(settings, "rate_limit", settings.rate_limit, defaults.rate_limit);
  take(settings, "max_redeliveries", settings.max_redeliveries, defaults.max_redeliveries);
  take(settings, "retry", settings.retry, defaults.retry);
  return defaults;
}

void apply_task_config(const Config& config, TaskRegistry& registry) {
  for (const std::string& name : registry.names()) {
    const TaskDefinition& definition = *registry.find(name);
    registry.set_defaults(name, apply_task_settings(definition.defaults, config.task(name)));
  }
  for (const TaskConfig& entry : config.tasks) {
    if (!entry.command.empty()) register_external(config, entry, registry);
  }
}

} // namespace celeriac::worker
