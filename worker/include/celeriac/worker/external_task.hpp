// External-command tasks: a task implemented by any program, declared in
// the config ([tasks."name"] command = [...], env = {...}) and registered by
// apply_task_config (task_config.hpp). The TaskFunction runs in the pool like
// any task and spawns the command once per job (docs/worker.md).
//
// The contract with the command:
//   stdin   {"args": [...], "kwargs": {...}, "job": {"id", "task", "retries",
//           "queue", "priority", "eta", "expires", "soft_time_limit",
//           "hard_time_limit", "parent_id", "root_id", "group", "origin"}}
//           (limits in seconds; absent values null), then end of input.
//   exit 0  SUCCESS; stdout is the result as JSON (empty stdout: null). Stdout
//           that is not JSON fails the job (Validation: no retry).
//   exit 75 (EX_TEMPFAIL) retry under the task's policy. When stdout is a JSON
//           object with "retry_after": seconds, that delay wins.
//   other   FAILURE (Unclassified) with the last 2 KiB of stderr as message.
// A program that cannot be executed (not found, not executable) fails the
// job permanently (Validation), naming the path. Stdout past
// max_output_bytes kills the command and fails the job (Validation).
//
// Limits: once ctx.cancelled() (soft limit, revoke --terminate) the command's
// process group gets SIGTERM; a command that then fails is recorded as
// SoftTimeLimitExceeded. At the hard limit the task itself SIGKILLs the group,
// so no pool leaves a command running: not the thread pool, which abandons the
// thread, nor the process pool, whose child also kills the group when it gets
// SIGTERM, and whose SIGKILL the command follows through PR_SET_PDEATHSIG.
//
// Threading: the function may run on any number of threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "celeriac/worker/task.hpp"

namespace celeriac {

inline constexpr int kExternalRetryExit = 75; // EX_TEMPFAIL from sysexits.h

struct ExternalCommand {
  // The program, then its arguments. A program without '/' is looked up in
  // PATH when the job runs.
  std::vector<std::string> command;
  std::map<std::string, std::string> env;                  // set on top of the worker's environment
  std::uint64_t max_output_bytes = std::uint64_t{1} << 20; // stdout; the broker's max body
  // The task's hard limit, for jobs whose message carries none.
  std::optional<Duration> hard_time_limit;
};

// The TaskFunction that runs COMMAND for each job. Throws InvalidInput
// (field "command") when COMMAND is empty.
TaskFunction external_command_task(ExternalCommand command);

// What the command reads on stdin for JOB.
nlohmann::json external_command_input(const Job& job);

} // namespace celeriac
