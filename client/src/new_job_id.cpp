#include "celeriac/new_job_id.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/random.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

// Bumped in a forked child, so that it never hands out its parent's bytes.
std::atomic<unsigned> g_fork_generation{0};

unsigned fork_generation() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
    return true;
  }();
  (void)registered;
  return g_fork_generation.load(std::memory_order_relaxed);
}

} // namespace

// std::random_device, asked for 4 bytes at a time, cost the client more per
// job than encoding the job's message did.
JobId new_job_id() {
  struct Pool {
    std::array<std::uint8_t, 4096> bytes{};
    std::size_t used = 4096; // empty
    unsigned generation = 0;
  };
  thread_local Pool pool;
  const unsigned generation = fork_generation();
  if (pool.used + sizeof(JobId::Bytes) > pool.bytes.size() || pool.generation != generation) {
    for (std::size_t filled = 0; filled < pool.bytes.size();) {
      const ssize_t n = ::getrandom(pool.bytes.data() + filled, pool.bytes.size() - filled, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw InfrastructureError(fmt::format("getrandom: {}", std::strerror(errno)));
      filled += static_cast<std::size_t>(n);
    }
    pool.used = 0;
    pool.generation = generation;
  }
  JobId::Bytes bytes{};
  std::memcpy(bytes.data(), pool.bytes.data() + pool.used, bytes.size());
  std::memset(pool.bytes.data() + pool.used, 0, bytes.size()); // handed out once only
  pool.used += bytes.size();
  return JobId::v4(bytes);
}

} // namespace celeriac
