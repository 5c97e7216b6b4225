#include "test_env.hpp"

#include <cstdlib>
#include <random>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace celeriac::test {

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(
        fmt::format("{} is not set: run integration tests through scripts/test, or "
                    "`eval \"$(scripts/services env)\"` after `scripts/services up`",
                    name));
  }
  return value;
}

std::string unique_name(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}", prefix, rng());
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return condition();
    std::this_thread::sleep_for(interval);
  }
  return true;
}

} // namespace celeriac::test
