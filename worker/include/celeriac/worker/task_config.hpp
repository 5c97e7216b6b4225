// The configuration's [tasks] entries laid over a TaskRegistry: what the
// file sets wins over what a task's code says in TaskDefaults, key by key
// (queue, priority, soft/hard time limit, rate_limit, max_redeliveries,
// retry as a whole table), the most specific entry first (Config::task()).
// Entries with a command become external-command tasks (external_task.hpp).
//
// Call it once, after the code registered its tasks and before the worker
// (or a pool child) starts: both must see the same registry.
#pragma once

#include "celeriac/core/config.hpp"
#include "celeriac/worker/task.hpp"

namespace celeriac::worker {

// SETTINGS (from Config::task()) over DEFAULTS: only the keys it sets.
TaskDefaults apply_task_settings(TaskDefaults defaults, const TaskConfig& settings);

// Applies CONFIG to every task of REGISTRY, then registers each [tasks]
// entry that has a command. Throws ConfigError (key tasks."<name>".command)
// when such a task is already implemented in C++.
void apply_task_config(const Config& config, TaskRegistry& registry);

} // namespace celeriac::worker
