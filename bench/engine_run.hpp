// The measurements of engine_bench (scripts/bench): the broker's ceiling, a
// worker fed by the C++ client end to end, its latency at half load, its
// memory, and the domain-scale run of many long jobs at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "celeriac/core/config.hpp"

namespace celeriac::bench {

struct EngineSpec {
  std::string broker_url;
  std::string database_url;
  std::string executable; // this program, started again as the worker process
  std::uint64_t jobs = 20'000;
  std::size_t concurrency = 2;
  std::uint16_t prefetch = 0; // 0: the worker's default
  double latency_seconds = 10;
};

// The most this broker gives on this machine: bare rabbitmq-c publishing
// SPEC.jobs persistent 300-byte messages with priorities 0..9 through a
// confirm window of 1,000 into a priority queue, while a second connection
// consumes them (basic.qos PREFETCH) and acks each. From the first publish to
// the last ack.
//
// And its drain: the same SPEC.jobs messages published first (not timed),
// then consumed the same way, from the first delivery to the last ack: what
// a consumer that only acks (each message) drains from a backlog on this
// broker, the practical bound of the drain figures (celeriac's and Celery's).
struct CeilingResult {
  double rate = 0;       // messages/s, publish + consume at once
  double drain_rate = 0; // messages/s, consume a backlog
  std::uint16_t prefetch = 0;
  double broker_us_per_msg = 0;       // RabbitMQ's CPU per message, publish + consume
  double drain_broker_us_per_msg = 0; // and per message drained
  double busy_cores = 0;              // all processes, publish + consume
};
CeilingResult run_broker_ceiling(const EngineSpec& spec, std::uint16_t prefetch);

// A run's CPU per job, by process: the worker (its children included),
// RabbitMQ (beam.smp), PostgreSQL (every postgres process), the bench's
// client (this process); and the cores busy on average, all processes counted.
struct CpuShare {
  double worker_us_per_job = 0;
  double broker_us_per_job = 0;
  double database_us_per_job = 0;
  double client_us_per_job = 0;
  double busy_cores = 0;
};

struct EndToEndResult {
  PoolKind pool = PoolKind::Thread;
  std::uint16_t prefetch = 0;
  double drain_rate = 0;     // jobs/s: queued first, first task start to the last SUCCESS committed
  double rate = 0;           // jobs/s: enqueue_many called to the last SUCCESS committed
  double cpu_us_per_job = 0; // the worker's CPU (its children's included) over the jobs
  CpuShare cpu;              // the end to end run's, by process
  CpuShare drain_cpu;        // the drain's
  double paced_rate = 0;     // the latency phase's achieved enqueue rate
  std::uint64_t paced_jobs = 0;
  Percentiles to_start;        // enqueue called -> task started
  Percentiles to_done;         // enqueue called -> SUCCESS committed (the store's NOTIFY received)
  long rss_idle_kib = 0;       // the worker process, consuming, before any job
  long rss_load_kib = 0;       // its largest RSS sampled while jobs ran
  long child_rss_idle_kib = 0; // the largest pool child, idle (process pool)
  long child_rss_load_kib = 0; // the largest pool child under load
  std::size_t children = 0;
};

// One worker process (SPEC.concurrency threads or children) consuming a
// fresh queue with results in a fresh schema. Its idle memory is read from a
// first worker on the empty queue. Drain: SPEC.jobs bench.noop jobs are
// queued (Client::enqueue_many) before the measured worker starts, as Celery
// is measured. End to end: SPEC.jobs more enqueued at once while it runs.
// Then jobs enqueued at half the end-to-end rate for SPEC.latency_seconds.
// Throws on any loss or an unclean stop.
EndToEndResult run_end_to_end(const EngineSpec& spec, PoolKind pool);

// JOBS bench.sleep(SECONDS) enqueued at once to a worker of CONCURRENCY:
// the wall time from enqueue to the last SUCCESS committed.
struct DomainResult {
  PoolKind pool = PoolKind::Thread;
  std::size_t jobs = 0;
  std::size_t concurrency = 0;
  double job_seconds = 0;
  double wall_seconds = 0;
};
DomainResult run_domain_scale(const EngineSpec& spec, PoolKind pool, std::size_t jobs,
                              std::size_t concurrency, double job_seconds);

// The prefetch a worker of SPEC uses.
std::uint16_t effective_prefetch(const EngineSpec& spec);

} // namespace celeriac::bench
