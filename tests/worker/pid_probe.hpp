// Whether a process still runs, for the tests that check an external command
// died with its job: a zombie or a reaped process does not count.
#pragma once

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace celeriac::test {

inline bool alive(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string skip, state;
  if (!(stat >> skip >> skip >> state)) return false;
  return state != "Z" && state != "X";
}

inline bool dies_within(long pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// The pid a command wrote to FILE, once it has (0 after LIMIT).
inline long pid_in_file(const std::string& file, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    long pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

} // namespace celeriac::test
