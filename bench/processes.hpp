// The benches' view of the worker processes they start: spawning, stopping
// and reading their CPU time and memory from /proc.
#pragma once

#include <sys/types.h>

#include <map>
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

// User + system CPU seconds of every process now running, by pid, with its
// command name (/proc/PID/comm: "beam.smp", "postgres", ...).
struct ProcessCpu {
  std::string command;
  double seconds = 0;
};
using CpuSnapshot = std::map<pid_t, ProcessCpu>;
CpuSnapshot cpu_snapshot();

// The CPU seconds each process used since BEFORE (all of it for a process
// started since), summed by command name. A process that exited meanwhile
// takes its seconds with it.
std::map<std::string, double> cpu_used_since(const CpuSnapshot& before);

} // namespace celeriac::bench
