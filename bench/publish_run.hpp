// What one publishing run of publish_bench is asked to do and what it reports.
// Both sides (bare rabbitmq-c, celeriac's Publisher) take the same RunSpec and
// fill the same RunResult, so the program compares like with like. This header
// uses no celeriac code: the bare side includes it too.
#pragma once

#include <time.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace celeriac::bench {

struct RunSpec {
  std::string url;   // the broker, amqp://user:password@host:port/vhost
  std::string queue; // published to through the default exchange
  std::uint64_t messages = 100'000;
  std::size_t window = 1000; // most messages unconfirmed at once
  std::size_t size = 300;    // body bytes
};

struct RunResult {
  std::uint64_t confirmed = 0;              // settled by basic.ack
  std::uint64_t nacked = 0;                 // settled by basic.nack
  std::uint64_t returned = 0;               // came back by basic.return (unroutable)
  std::uint64_t failed = 0;                 // never settled (celeriac's PublishStatus::Failed)
  std::chrono::duration<double> elapsed{0}; // first publish to last confirmation
  std::chrono::duration<double> cpu{0};     // this process's CPU time (user + system) meanwhile
  std::string problem;                      // why the run stopped early; empty if it did not

  double rate() const { return elapsed.count() > 0 ? confirmed / elapsed.count() : 0.0; }
  // The client's own cost: what the broker's speed does not hide.
  double cpu_us_per_message() const { return confirmed > 0 ? cpu.count() * 1e6 / confirmed : 0.0; }
  // Every message confirmed, none refused, nothing went wrong.
  bool clean(std::uint64_t expected) const {
    return problem.empty() && confirmed == expected && nacked == 0 && returned == 0 && failed == 0;
  }
};

// The body both sides send: a JSON string of exactly SIZE bytes (bare x's below 2).
inline std::string make_body(std::size_t size) {
  if (size < 2) return std::string(size, 'x');
  return '"' + std::string(size - 2, 'x') + '"';
}

// CPU time this process has used so far, user and system. The program has one
// thread, so the difference across a run is that run's client cost.
inline std::chrono::duration<double> process_cpu() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return std::chrono::duration<double>(static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9);
}

// A publish sent with no progress from the broker for this long ends the run.
inline constexpr std::chrono::seconds kStallTimeout{30};

} // namespace celeriac::bench
