// The private RabbitMQ of scripts/services, as a process a serial test may
// stop, freeze (SIGSTOP) and thaw. Only tests that run alone (_serial_) use it.
#pragma once

#include <sys/types.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace celeriac::test {

inline const std::filesystem::path kRepositoryRoot =
    std::filesystem::path(__FILE__).parent_path() / ".." / "..";

// Runs `scripts/services ARGS` quietly; returns its exit status.
inline int services(const std::string& args) {
  const std::string command =
      (kRepositoryRoot / "scripts" / "services").string() + " " + args + " >/dev/null";
  return std::system(command.c_str());
}

// The broker's process id, or 0 if it is not running.
inline pid_t broker_pid() {
  std::ifstream in(kRepositoryRoot / ".local" / "data" / "rabbitmq" / "rabbitmq.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

} // namespace celeriac::test
