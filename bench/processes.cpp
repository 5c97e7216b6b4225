#include "processes.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace celeriac::bench {
namespace {

long status_field_kib(pid_t pid, std::string_view field) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(field)) return std::stol(line.substr(field.size()));
  return 0;
}

// User + system CPU seconds of PID (fields 14 and 15 of /proc/PID/stat).
double cpu_seconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return 0;
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

} // namespace

pid_t spawn(const std::string& executable, const std::vector<std::string>& arguments) {
  std::vector<std::string> all{executable};
  all.insert(all.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, executable.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    throw std::runtime_error("cannot start " + executable);
  return pid;
}

void stop_worker(pid_t pid) {
  using Clock = std::chrono::steady_clock;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error("the worker did not stop within 60 s of SIGTERM");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error(fmt::format("the worker ended with status {:#x}", status));
}

long peak_rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmHWM:");
}
long rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmRSS:");
}

std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/children", pid, pid));
  std::vector<pid_t> children;
  for (pid_t child = 0; in >> child;)
    children.push_back(child);
  return children;
}

CpuSnapshot cpu_snapshot() {
  CpuSnapshot snapshot;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(entry.path() / "comm");
    std::string command;
    if (!std::getline(comm, command)) continue; // gone meanwhile
    const auto pid = static_cast<pid_t>(std::stol(name));
    snapshot[pid] = ProcessCpu{command, cpu_seconds(pid)};
  }
  return snapshot;
}

std::map<std::string, double> cpu_used_since(const CpuSnapshot& before) {
  std::map<std::string, double> used;
  for (const auto& [pid, now] : cpu_snapshot()) {
    const auto then = before.find(pid);
    // A kernel worker renames itself as its work changes: the pid tells.
    used[now.command] += now.seconds - (then == before.end() ? 0 : then->second.seconds);
  }
  return used;
}

double worker_cpu_seconds(pid_t pid) {
  double total = cpu_seconds(pid);
  for (pid_t child : children_of(pid))
    total += cpu_seconds(child);
  return total;
}

} // namespace celeriac::bench
