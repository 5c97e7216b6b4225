// One measured run of worker_bench: a Worker in a process of its own against
// a fresh queue and schema, and the bare consumer baseline beside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "celeriac/core/config.hpp"

namespace celeriac::bench {

struct WorkerRunSpec {
  std::string broker_url;
  std::string database_url;
  std::string executable; // this program, started again as the worker process
  PoolKind pool = PoolKind::Thread;
  std::size_t concurrency = 2;
  std::uint16_t prefetch = 0;  // 0: the pool size, the worker's default
  std::uint64_t jobs = 50'000; // the throughput phase
  double latency_seconds = 10; // how long the paced phase publishes
  int store_max_delay_ms = -1; // the worker's StoreWriter max_delay; -1: its default (5 ms)
};

struct WorkerRunResult {
  double rate = 0;           // jobs/s: first task start to the last SUCCESS committed
  double cpu_us_per_job = 0; // the worker's CPU time (its children's included) / jobs
  double paced_rate = 0;     // the paced phase's publish rate: half of `rate`
  std::uint64_t paced_jobs = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0; // publish to task start
  long rss_kib = 0;                                      // the worker process's peak RSS (VmHWM)
  long children_rss_kib = 0; // its pool children's peak RSS, summed (process pool)
};

// Throughput: publishes SPEC.jobs bench.noop jobs (confirmed), then starts the
// worker process and times it from the first task start to the moment the
// store holds every job as SUCCESS. Latency: publishes at half that rate for
// SPEC.latency_seconds and takes each job's publish-to-start time from the
// StartStamps. Then stops the worker with SIGTERM (it must exit 0), checks
// the counts and removes the queue and schema. Throws on any failure.
WorkerRunResult run_worker(const WorkerRunSpec& spec);

// The baseline: the same SPEC.jobs messages published the same way, consumed
// by run_bare_consumer() with the worker's prefetch. Returns messages/s.
double run_bare_baseline(const WorkerRunSpec& spec);

// The prefetch the worker uses for SPEC (its default is the pool size).
inline std::uint16_t effective_prefetch(const WorkerRunSpec& spec) {
  return spec.prefetch > 0 ? spec.prefetch : static_cast<std::uint16_t>(spec.concurrency);
}

} // namespace celeriac::bench
