// The commands, one function each; cli.cpp dispatches to them by name. Each
// returns the exit code, or throws (see cli.hpp for the mapping).
#pragma once

#include <span>
#include <string>

#include "celeriac/cli/cli.hpp"
#include "command.hpp"

namespace celeriac::cli {

int run_enqueue(const Invocation& invocation);
int run_result(const Invocation& invocation);
int run_status(const Invocation& invocation);
int run_revoke(const Invocation& invocation);
int run_inspect_queues(const Invocation& invocation);
int run_inspect_workers(const Invocation& invocation);
int run_purge(const Invocation& invocation);
int run_migrate(const Invocation& invocation);
int run_config_check(const Invocation& invocation);
int run_worker(const Invocation& invocation);
int run_scheduler(const Invocation& invocation);
int run_schedules_list(const Invocation& invocation);
int run_schedules_run(const Invocation& invocation);
int run_control_ping(const Invocation& invocation);
int run_control_shutdown(const Invocation& invocation);
int run_control_rate_limit(const Invocation& invocation);
// Not a command: the mode the process pool starts this binary in. ARGS are
// those after "__pool-child" (worker_command.cpp makes them).
int run_pool_child_mode(std::span<const std::string> args);

} // namespace celeriac::cli
