// Runs the built `celeriac` binary (CELERIAC_CLI_BINARY, set by
// tests/CMakeLists.txt), or another Program, as a child process with exactly
// the environment a test gives it, and collects its exit code, stdout and
// stderr. Also: a scratch configuration (own queue and schema names) for each
// test.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test_env.hpp"

namespace celeriac::test {

struct CliResult {
  int code = -1; // the exit status; 128 + signal when killed
  std::string out;
  std::string err;
};

// A program other than celeriac for CliProcess to run (e.g. a Celery worker).
struct Program {
  std::string path; // absolute: the child's PATH is not searched
};

// One run of the binary, started at construction.
class CliProcess {
 public:
  CliProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
             const std::string& cwd = {})
      : CliProcess(Program{CELERIAC_CLI_BINARY}, args, env, cwd) {}

  CliProcess(const Program& program, const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env, const std::string& cwd = {})
      : program_(program.path) {
    std::array<int, 2> out_pipe{};
    std::array<int, 2> err_pipe{};
    REQUIRE(pipe2(out_pipe.data(), O_CLOEXEC) == 0);
    REQUIRE(pipe2(err_pipe.data(), O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    std::vector<std::string> argv_text{program_};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<std::string> env_text;
    for (const auto& [key, value] : env)
      env_text.push_back(key + "=" + value);
    auto argv = pointers(argv_text);
    auto envp = pointers(env_text);
    const int rc =
        posix_spawn(&pid_, program_.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    REQUIRE_MESSAGE(rc == 0, "cannot start " << program_);
  }

  ~CliProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) close(out_fd_);
    if (err_fd_ >= 0) close(err_fd_);
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  // Reads both pipes until the child closes them, then reaps it. A child
  // still running after TIMEOUT is killed and the test fails.
  pid_t pid() const { return pid_; }

  // Sends SIG to the running binary (a daemon's SIGTERM).
  void signal(int sig) {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }

  // True once the child has exited (a daemon that gave up early); finish()
  // still collects its output and exit code.
  bool exited() {
    if (pid_ <= 0 || reaped_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
    reaped_ = status;
    return true;
  }

  CliResult finish(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    CliResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::array<pollfd, 2> fds{pollfd{out_fd_, POLLIN, 0}, pollfd{err_fd_, POLLIN, 0}};
      if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) continue;
      drain(fds[0], out_fd_, result.out);
      drain(fds[1], err_fd_, result.err);
    }
    const bool open = out_fd_ >= 0 || err_fd_ >= 0;
    if (open && !reaped_) kill(pid_, SIGKILL);
    int status = reaped_.value_or(0);
    if (!reaped_) waitpid(pid_, &status, 0);
    pid_ = -1;
    reaped_.reset();
    CHECK_MESSAGE(!open, program_ << " did not finish within the timeout; stderr: " << result.err);
    result.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
  }

 private:
  static std::vector<char*> pointers(std::vector<std::string>& texts) {
    std::vector<char*> p;
    for (auto& t : texts)
      p.push_back(t.data());
    p.push_back(nullptr);
    return p;
  }

  static void drain(const pollfd& polled, int& fd, std::string& into) {
    if (fd < 0 || polled.revents == 0) return;
    std::array<char, 4096> buffer{};
    const ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      into.append(buffer.data(), static_cast<std::size_t>(n));
    } else {
      close(fd);
      fd = -1;
    }
  }

  std::string program_;
  pid_t pid_ = -1;
  std::optional<int> reaped_; // the wait status, once exited() has reaped the child
  int out_fd_ = -1;
  int err_fd_ = -1;
};

inline CliResult run_celeriac(const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& env,
                              const std::string& cwd = {}) {
  return CliProcess(args, env, cwd).finish();
}

inline CliResult run_program(const Program& program, const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env,
                             const std::string& cwd = {}) {
  return CliProcess(program, args, env, cwd).finish();
}

inline std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// A temporary directory holding celeriac.toml, removed with the object.
struct ScratchConfig {
  std::filesystem::path dir;
  std::filesystem::path file;

  explicit ScratchConfig(const std::string& toml) {
    std::string pattern = (std::filesystem::temp_directory_path() / "celeriac-cli-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    file = dir / "celeriac.toml";
    std::ofstream(file) << toml;
  }
  ~ScratchConfig() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  ScratchConfig(const ScratchConfig&) = delete;
  ScratchConfig& operator=(const ScratchConfig&) = delete;
};

} // namespace celeriac::test
