// One run of an external command, the mechanics under external_task.cpp:
// spawn, feed stdin, collect stdout and stderr, enforce the limits, reap.
//
// - The command runs in a process group of its own, with PR_SET_PDEATHSIG
//   = SIGKILL, so it dies with the thread (and process) that started it.
// - fork() is followed only by async-signal-safe calls until execve: the
//   caller may be one thread among many (the thread pool).
// - stdin, stdout and stderr are pipes served by one poll() loop, so a
//   command that writes a lot before it reads its input cannot deadlock us.
// - When the command exits, what is left of its process group (background
//   children) is SIGKILLed; nothing outlives the run.
// - Every fd opened here is closed and the child is always reaped, whatever
//   happens, before run_command returns or throws.
//
// Threading: run_command blocks the calling thread; any number may run at
// once on different threads. CANCELLED is polled about every 50 ms.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace celeriac::worker::detail {

struct CommandSpec {
  std::string program;              // the path execve gets (already resolved)
  std::vector<std::string> argv;    // argv[0] first
  std::vector<std::string> envp;    // "NAME=value"
  std::string input;                // written to stdin, then stdin is closed
  std::size_t max_output = 1 << 20; // stdout beyond this kills the command
  std::optional<std::chrono::steady_clock::time_point> deadline; // SIGKILL at
  std::function<bool()> cancelled;                               // true: SIGTERM to the group, once
};

struct CommandRun {
  int spawn_errno = 0; // execve failed with this; nothing else is set
  bool exited = false; // exit_status is valid
  int exit_status = 0;
  int signal = 0;                // the signal that ended it, when !exited
  bool terminated = false;       // we sent SIGTERM (CANCELLED turned true)
  bool deadline_passed = false;  // we SIGKILLed it at the deadline
  bool output_too_large = false; // we SIGKILLed it for writing past max_output
  std::string output;            // stdout, at most max_output bytes
  std::string error_tail;        // the last kErrorTail bytes of stderr
};

inline constexpr std::size_t kErrorTail = 2048;

// Throws std::system_error when pipes or the process cannot be created
// (EMFILE, EAGAIN); an execve failure is reported in spawn_errno instead.
CommandRun run_command(const CommandSpec& spec);

// For a fatal-signal handler (the pool child's SIGTERM at a hard limit):
// SIGKILLs the process group of every command running in this process.
// Async-signal-safe.
void kill_running_commands() noexcept;

} // namespace celeriac::worker::detail
