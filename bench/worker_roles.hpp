// worker_bench's two other roles, chosen by its first argument: the worker
// process it measures (`--serve-worker`), and that worker's pool children
// (`--pool-child`). Both run bench.noop(i), which notes in the StartStamps
// the moment job i starts and returns null, and bench.sleep(seconds). Running the worker as
// a process of its own keeps the bench's publishing and polling out of its
// CPU time and memory, so its peak RSS is its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "celeriac/core/config.hpp"

namespace celeriac::bench {

struct WorkerProcessSpec {
  PoolKind pool = PoolKind::Thread;
  std::size_t concurrency = 2;
  std::uint16_t prefetch = 0; // 0: the worker's default (the pool size)
  std::string queue;
  std::string schema;
  std::string stamps;          // the StartStamps file
  int store_max_delay_ms = -1; // the StoreWriter's max_delay; -1: its default
};

// The arguments, after the executable, that start the worker process of SPEC.
std::vector<std::string> worker_process_arguments(const WorkerProcessSpec& spec);

// When ARGV names one of the roles, runs it and returns its exit status;
// nullopt otherwise. The worker process reads CELERIAC_BROKER_URL and
// CELERIAC_DATABASE_URL, and runs until SIGTERM (a warm shutdown).
std::optional<int> run_role(int argc, char** argv);

} // namespace celeriac::bench
