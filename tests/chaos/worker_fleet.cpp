#include "worker_fleet.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <httplib.h>

extern char** environ;

namespace celeriac::chaos {
namespace {

using Clock = std::chrono::steady_clock;

// A loopback port nobody listens on now (the kernel's pick).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    throw std::runtime_error(fmt::format("no free port: {}", std::strerror(errno)));
  ::close(fd);
  return ntohs(address.sin_port);
}

// This process's environment, with the worker's schema and no other config file.
std::vector<std::string> worker_environment(const std::string& schema) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.starts_with("CELERIAC_DATABASE_SCHEMA=") || entry.starts_with("CELERIAC_CONFIG="))
      continue;
    env.emplace_back(entry);
  }
  env.push_back("CELERIAC_DATABASE_SCHEMA=" + schema);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& texts) {
  std::vector<char*> p;
  for (auto& t : texts)
    p.push_back(t.data());
  p.push_back(nullptr);
  return p;
}

Clock::duration to_clock(Seconds s) {
  return std::chrono::duration_cast<Clock::duration>(s);
}

} // namespace

WorkerFleet::WorkerFleet(FleetSpec spec, unsigned seed)
    : spec_(std::move(spec)), slots_(static_cast<std::size_t>(spec_.workers)), rng_(seed) {
  for (auto& slot : slots_)
    slot.port = free_port();
}

WorkerFleet::~WorkerFleet() {
  stop(Seconds(30));
}

void WorkerFleet::start() {
  {
    std::lock_guard lock(mutex_);
    for (auto& slot : slots_)
      slot.restart_at = Clock::now();
  }
  // The workers are started by the fleet's own thread: PR_SET_PDEATHSIG
  // follows the thread that forked, and that thread outlives them all.
  thread_ = std::thread([this] { supervise(); });
}

void WorkerFleet::arm_killer(Seconds min, Seconds max) {
  std::lock_guard lock(mutex_);
  armed_ = true;
  kill_min_ = min;
  kill_max_ = max;
  next_kill_ =
      Clock::now() +
      to_clock(std::uniform_real_distribution<double>(min.count(), max.count())(rng_) * Seconds(1));
  wake_.notify_all();
}

void WorkerFleet::disarm_killer() {
  std::lock_guard lock(mutex_);
  armed_ = false;
}

void WorkerFleet::supervise() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    reap_and_restart(now);
    if (armed_ && now >= next_kill_) {
      kill_one();
      next_kill_ = now + to_clock(std::uniform_real_distribution<double>(kill_min_.count(),
                                                                         kill_max_.count())(rng_) *
                                  Seconds(1));
    }
    wake_.wait_for(lock, std::chrono::milliseconds(20));
  }
  shut_down_all();
}

// Caller holds mutex_.
void WorkerFleet::reap_and_restart(Clock::time_point now) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    int status = 0;
    if (slot.pid > 0 && ::waitpid(slot.pid, &status, WNOHANG) == slot.pid) {
      if (slot.killed) {
        slot.restart_at = now;
      } else {
        ++report_.unexpected_exits;
        const bool crashed = WIFSIGNALED(status);
        if (crashed) ++report_.crashes;
        report_.exit_notes.push_back(
            crashed ? fmt::format("a worker died of signal {} (not the killer's)", WTERMSIG(status))
                    : fmt::format("a worker exited by itself with status {} (a server unreachable "
                                  "at its start?)",
                                  WEXITSTATUS(status)));
        slot.restart_at = now + std::chrono::seconds(1);
      }
      slot.pid = -1;
      slot.killed = false;
    }
    if (slot.pid <= 0 && now >= slot.restart_at) {
      slot.pid = spawn(static_cast<int>(i), slot.port);
      ++report_.starts;
    }
  }
}

// Caller holds mutex_.
void WorkerFleet::kill_one() {
  std::vector<std::size_t> running;
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].pid > 0 && !slots_[i].killed) running.push_back(i);
  if (running.empty()) return;
  Slot& victim =
      slots_[running[std::uniform_int_distribution<std::size_t>(0, running.size() - 1)(rng_)]];
  if (::kill(victim.pid, SIGKILL) == 0) {
    victim.killed = true;
    ++report_.kills;
  }
}

// Caller holds mutex_; runs on the fleet's thread. Between fork and exec only
// async-signal-safe calls: everything else is prepared before the fork.
pid_t WorkerFleet::spawn(int index, int port) {
  std::vector<std::string> args{spec_.celeriac, "worker",
                                "--config",     spec_.config,
                                "-Q",           spec_.queues,
                                "-c",           std::to_string(spec_.concurrency),
                                "--http",       fmt::format("127.0.0.1:{}", port)};
  std::vector<std::string> env = worker_environment(spec_.schema);
  auto argv = pointers(args);
  auto envp = pointers(env);
  const std::string log = fmt::format("{}/worker{}.log", spec_.log_dir, index + 1);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // the driver dies: so do its workers
    if (::getppid() != parent) ::_exit(127);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  return pid;
}

bool WorkerFleet::healthy(int port) const {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(0, 500'000);
  client.set_read_timeout(1, 0);
  const auto response = client.Get("/healthz");
  return response && response->status == 200;
}

int WorkerFleet::wait_healthy(Seconds timeout) {
  const auto deadline = Clock::now() + to_clock(timeout);
  std::vector<int> ports;
  {
    std::lock_guard lock(mutex_);
    for (const auto& slot : slots_)
      ports.push_back(slot.port);
  }
  int answering = 0;
  while (true) {
    answering = 0;
    for (int port : ports)
      answering += healthy(port) ? 1 : 0;
    if (answering == static_cast<int>(ports.size()) || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::lock_guard lock(mutex_);
  report_.alive = answering;
  return answering;
}

void WorkerFleet::stop(Seconds timeout) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    armed_ = false;
    stop_timeout_ = timeout;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

// Caller holds mutex_; runs on the fleet's thread, which must outlive its
// children (PR_SET_PDEATHSIG would SIGKILL them as it ends).
void WorkerFleet::shut_down_all() {
  for (auto& slot : slots_)
    if (slot.pid > 0) ::kill(slot.pid, SIGTERM);
  const auto deadline = Clock::now() + to_clock(stop_timeout_);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    int status = 0;
    bool exited = slot.pid <= 0;
    while (!exited && Clock::now() < deadline) {
      exited = ::waitpid(slot.pid, &status, WNOHANG) == slot.pid;
      if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!exited) {
      ::kill(slot.pid, SIGKILL);
      ::waitpid(slot.pid, &status, 0);
      report_.exit_notes.push_back(fmt::format("worker{} (pid {}) did not stop within {} s", i + 1,
                                               slot.pid, stop_timeout_.count()));
    } else if (slot.pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      ++report_.stopped_warm;
    } else if (slot.pid > 0) {
      report_.exit_notes.push_back(
          fmt::format("worker{} (pid {}) ended its warm shutdown with {} {}", i + 1, slot.pid,
                      WIFSIGNALED(status) ? "signal" : "status",
                      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)));
    }
    slot.pid = -1;
  }
}

FleetReport WorkerFleet::report() const {
  std::lock_guard lock(mutex_);
  return report_;
}

} // namespace celeriac::chaos
