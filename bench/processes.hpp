// The benches' view of the worker processes they start: spawning, stopping
// and reading their CPU time and memory from /proc.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace celeriac::bench {

// Starts EXECUTABLE with ARGUMENTS and this process's environment.
pid_t spawn(const std::string& executable, const std::vector<std::string>& arguments);

// SIGTERM, then waits (up to 60 s) for an exit status of 0; throws otherwise
// (and SIGKILLs a worker that did not stop).
void stop_worker(pid_t pid);

// VmHWM (peak) and VmRSS (now) of PID from /proc/PID/status, in KiB; 0 once it is gone.
long peak_rss_kib(pid_t pid);
long rss_kib(pid_t pid);

// PID's child processes (a process pool's children).
std::vector<pid_t> children_of(pid_t pid);

// User + system CPU seconds of PID and its children.
double worker_cpu_seconds(pid_t pid);

} // namespace celeriac::bench
