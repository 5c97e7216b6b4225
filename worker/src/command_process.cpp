// run_command: fork/exec with a report pipe for execve's errno, then one
// poll() loop over stdin, stdout and stderr until the command is gone.
#include "command_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <system_error>

namespace celeriac::worker::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kPollInterval{50};
// How long the pipes may stay open after the command's group was killed
// (a process outside the group, started with setsid, may still hold them).
constexpr std::chrono::seconds kDrainGrace{1};

// Process groups of the commands running in this process, for kill_running_commands().
std::array<std::atomic<pid_t>, 64> g_running{};

class RunningSlot {
 public:
  explicit RunningSlot(pid_t group) {
    for (auto& slot : g_running) {
      pid_t expected = 0;
      if (slot.compare_exchange_strong(expected, group)) {
        slot_ = &slot;
        return;
      }
    }
  }
  ~RunningSlot() { release(); }
  // Before the group's leader is reaped, so that its id is never killed once free.
  void release() {
    if (slot_ != nullptr) slot_->store(0);
    slot_ = nullptr;
  }
  RunningSlot(const RunningSlot&) = delete;
  RunningSlot& operator=(const RunningSlot&) = delete;

 private:
  std::atomic<pid_t>* slot_ = nullptr;
};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    close();
    fd_ = fd;
  }
  bool open() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void make_pipe(Pipe& pipe) {
  std::array<int, 2> fds{};
  if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw_errno("pipe2");
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

struct Pipes {
  Pipe in, out, err, report;
};

// Between fork and execve: async-signal-safe calls only, no allocation.
[[noreturn]] void exec_child(const CommandSpec& spec, Pipes& p, char* const* argv,
                             char* const* envp, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127); // the parent died before prctl
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &action, nullptr); // ignored ones (SIGPIPE) would survive execve
  ::dup2(p.in.read.get(), 0);
  ::dup2(p.out.write.get(), 1);
  ::dup2(p.err.write.get(), 2);
  // Nothing else of ours may reach the command (the pool child's frame pipes).
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0) {
    for (int fd = 3; fd < 4096; ++fd)
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  ::execve(spec.program.c_str(), argv, envp);
  const int error = errno;
  [[maybe_unused]] const ssize_t n = ::write(p.report.write.get(), &error, sizeof error);
  ::_exit(127);
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings)
    out.push_back(const_cast<char*>(s.c_str())); // NOLINT: execve's signature
  out.push_back(nullptr);
  return out;
}

// The errno execve reported, or 0 once the report pipe closed on a successful exec.
int read_exec_report(Fd& report) {
  int error = 0;
  for (;;) {
    const ssize_t n = ::read(report.get(), &error, sizeof error);
    if (n < 0 && errno == EINTR) continue;
    return n == static_cast<ssize_t>(sizeof error) ? error : 0;
  }
}

// Blocks SIGPIPE in this thread while it writes to the command's stdin, so
// a command that does not read its input gives EPIPE instead of a signal.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &previous_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&previous_, SIGPIPE) && sigismember(&pending, SIGPIPE)) {
      sigset_t pipe_only;
      sigemptyset(&pipe_only);
      sigaddset(&pipe_only, SIGPIPE);
      const timespec zero{};
      ::sigtimedwait(&pipe_only, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t previous_{};
};

// The running command: its pipes, its limits, and the loop that serves them.
class Session {
 public:
  Session(const CommandSpec& spec, pid_t pid, Pipes& pipes, CommandRun& run)
      : spec_(spec),
        pid_(pid),
        slot_(pid),
        in_(pipes.in.write),
        out_(pipes.out.read),
        err_(pipes.err.read),
        run_(run) {
    for (const Fd* fd : {&in_, &out_, &err_})
      set_nonblocking(fd->get());
    if (spec_.input.empty()) in_.close();
  }
  // Kills what is left and reaps, whatever happened before.
  ~Session() {
    if (!reaped_) {
      kill_group(SIGKILL);
      reap();
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void serve() {
    while (!done()) {
      enforce_limits();
      notice_exit();
      wait_for_io();
    }
    reap();
  }

 private:
  bool done() const {
    const bool pipes_done = (!out_.open() && !err_.open()) || drain_expired();
    return exited_ && pipes_done;
  }
  bool drain_expired() const { return exited_ && SteadyClock::now() > exited_at_ + kDrainGrace; }

  void kill_group(int sig) const { ::kill(-pid_, sig); }

  void enforce_limits() {
    if (!run_.terminated && spec_.cancelled && spec_.cancelled()) {
      run_.terminated = true;
      kill_group(SIGTERM);
    }
    if (!run_.deadline_passed && spec_.deadline && SteadyClock::now() >= *spec_.deadline) {
      run_.deadline_passed = true;
      kill_group(SIGKILL);
    }
  }

  // The command itself has ended (not reaped yet, so its pid still names
  // the group): kill whatever it left running in its group.
  void notice_exit() {
    if (exited_) return;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return;
    if (info.si_pid != pid_) return;
    exited_ = true;
    exited_at_ = SteadyClock::now();
    kill_group(SIGKILL);
    in_.close();
  }

  void wait_for_io() {
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    if (in_.open()) fds[n++] = pollfd{in_.get(), POLLOUT, 0};
    if (out_.open()) fds[n++] = pollfd{out_.get(), POLLIN, 0};
    if (err_.open()) fds[n++] = pollfd{err_.get(), POLLIN, 0};
    const int timeout = exited_ ? 10 : static_cast<int>(kPollInterval.count());
    if (::poll(fds.data(), n, timeout) <= 0) return;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_.get())
        write_input();
      else if (fds[i].fd == out_.get())
        read_output();
      else
        read_errors();
    }
  }

  void write_input() {
    const std::size_t left = spec_.input.size() - written_;
    const ssize_t n = ::write(in_.get(), spec_.input.data() + written_, left);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n < 0) { // EPIPE: the command does not read its input, which is its business
      in_.close();
      return;
    }
    written_ += static_cast<std::size_t>(n);
    if (written_ == spec_.input.size()) in_.close();
  }

  // Reads what FD has now into a chunk; false at its end (or an error).
  static bool read_chunk(Fd& fd, std::string& chunk) {
    std::array<char, 64 * 1024> buffer{};
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) {
      fd.close();
      return false;
    }
    chunk.assign(buffer.data(), static_cast<std::size_t>(n));
    return true;
  }

  void read_output() {
    std::string chunk;
    if (!read_chunk(out_, chunk)) return;
    if (run_.output.size() + chunk.size() > spec_.max_output) {
      run_.output_too_large = true;
      kill_group(SIGKILL);
      out_.close();
      return;
    }
    run_.output += chunk;
  }

  void read_errors() {
    std::string chunk;
    if (!read_chunk(err_, chunk)) return;
    run_.error_tail += chunk;
    if (run_.error_tail.size() > 2 * kErrorTail) {
      run_.error_tail.erase(0, run_.error_tail.size() - kErrorTail);
    }
  }

  void reap() {
    slot_.release();
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    run_.exited = WIFEXITED(status);
    run_.exit_status = run_.exited ? WEXITSTATUS(status) : 0;
    run_.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    if (run_.error_tail.size() > kErrorTail) {
      run_.error_tail.erase(0, run_.error_tail.size() - kErrorTail);
    }
  }

  const CommandSpec& spec_;
  const pid_t pid_;
  RunningSlot slot_;
  Fd& in_;
  Fd& out_;
  Fd& err_;
  CommandRun& run_;
  std::size_t written_ = 0;
  bool exited_ = false;
  bool reaped_ = false;
  SteadyClock::time_point exited_at_;
};

} // namespace

CommandRun run_command(const CommandSpec& spec) {
  Pipes pipes;
  for (Pipe* pipe : {&pipes.in, &pipes.out, &pipes.err, &pipes.report})
    make_pipe(*pipe);
  const std::vector<char*> argv = c_strings(spec.argv);
  const std::vector<char*> envp = c_strings(spec.envp);
  const SigpipeBlock sigpipe_blocked; // before fork: the child clears its own mask
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) exec_child(spec, pipes, argv.data(), envp.data(), parent);
  ::setpgid(pid, pid); // as the child does: no window where kill(-pid) misses it
  for (Fd* child_end : {&pipes.in.read, &pipes.out.write, &pipes.err.write, &pipes.report.write})
    child_end->close();
  CommandRun run;
  {
    Session session(spec, pid, pipes, run); // from here on, the child is always reaped
    run.spawn_errno = read_exec_report(pipes.report.read);
    if (run.spawn_errno == 0) session.serve();
  }
  return run;
}

void kill_running_commands() noexcept {
  for (auto& slot : g_running) {
    if (const pid_t group = slot.load(); group > 0) ::kill(-group, SIGKILL);
  }
}

} // namespace celeriac::worker::detail
