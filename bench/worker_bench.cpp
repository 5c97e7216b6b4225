// worker_bench: how many no-op jobs a Worker runs per second, results stored,
// next to a bare rabbitmq-c consumer that only acks, in the same run; then
// the enqueue-to-start latency at half that rate, and the worker's peak RSS.
//
//   worker_bench [--jobs N] [--concurrency C] [--prefetch P] [--latency-seconds S]
//                [--store-max-delay-ms D] [--rounds R]
//
// Each round runs, one after the other on fresh queues and schemas:
//  A. bare consumer: N bench.noop messages published (confirmed), then
//     consumed with basic.qos P and one basic.ack each; the clock runs from
//     the first delivery to the last ack;
//  T. a Worker with a thread pool of C, in a process of its own (this
//     program with --serve-worker): N jobs published first, the clock from the
//     first task start to the moment the store holds all N as SUCCESS (which
//     is before their acks: the last acks follow within a loop turn). Then jobs
//     are published at half that rate for S seconds and each one's time from
//     publish to task start is taken from shared memory (start_stamps.hpp);
//  P. the same with a process pool of C.
// Defaults: N 50000, C the number of cores, P the worker's default (C), S 10,
// D the StoreWriter's default (5 ms), R 3. The broker and database are $CELERIAC_BROKER_URL and
// $CELERIAC_DATABASE_URL. Timing never fails it: it exits 1 only when a job
// or message went missing or the worker did not stop cleanly, 2 on bad usage.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "worker_roles.hpp"
#include "worker_run.hpp"

namespace celeriac::bench {
namespace {

struct Options {
  WorkerRunSpec spec;
  int rounds = 3;
};

constexpr const char* kUsage =
    "usage: worker_bench [--jobs N] [--concurrency C] [--prefetch P] [--latency-seconds S] "
    "[--store-max-delay-ms D] [--rounds R]\n"
    "  defaults: --jobs 50000 --concurrency <cores> --prefetch <C> --latency-seconds 10 "
    "--rounds 3\n";

std::uint64_t parse_number(const std::string& flag, const std::string& text) {
  const std::uint64_t min = flag == "--store-max-delay-ms" ? 0 : 1;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min)
    throw UsageError(
        fmt::format("{} wants a whole number of at least {}, not '{}'", flag, min, text));
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  o.spec.concurrency = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") throw UsageError("");
    if (i + 1 >= argc) throw UsageError(flag + " wants a value");
    const std::uint64_t value = parse_number(flag, argv[i + 1]);
    if (flag == "--jobs")
      o.spec.jobs = value;
    else if (flag == "--concurrency")
      o.spec.concurrency = value;
    else if (flag == "--prefetch")
      o.spec.prefetch = static_cast<std::uint16_t>(std::min<std::uint64_t>(value, 65535));
    else if (flag == "--latency-seconds")
      o.spec.latency_seconds = static_cast<double>(value);
    else if (flag == "--store-max-delay-ms")
      o.spec.store_max_delay_ms = static_cast<int>(std::min<std::uint64_t>(value, 10'000));
    else if (flag == "--rounds")
      o.rounds = static_cast<int>(value);
    else
      throw UsageError(fmt::format("unknown option '{}'", flag));
  }
  o.spec.broker_url = required_env("CELERIAC_BROKER_URL");
  o.spec.database_url = required_env("CELERIAC_DATABASE_URL");
  o.spec.executable = std::filesystem::read_symlink("/proc/self/exe");
  return o;
}

struct Round {
  double bare = 0;
  WorkerRunResult threads, processes;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// "median (min–max)" of FIELD over the rounds.
template <typename Field>
std::string spread(const std::vector<Round>& rounds, Field field, const char* format) {
  std::vector<double> v;
  for (const Round& r : rounds)
    v.push_back(field(r));
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt::format(fmt::runtime(format), median(v)) + " (" +
         fmt::format(fmt::runtime(format), *lo) + "–" + fmt::format(fmt::runtime(format), *hi) +
         ")";
}

void print_worker(int round, const char* pool, const WorkerRunResult& r) {
  fmt::print(
      "round {}  {:<7} {:8.0f} jobs/s  {:6.1f} us CPU/job | paced {:.0f}/s x {} jobs: "
      "start latency p50 {:.2f} ms  p95 {:.2f} ms  p99 {:.2f} ms  max {:.2f} ms | "
      "peak RSS {} KiB (children {} KiB)\n",
      round, pool, r.rate, r.cpu_us_per_job, r.paced_rate, r.paced_jobs, r.p50_ms, r.p95_ms,
      r.p99_ms, r.max_ms, r.rss_kib, r.children_rss_kib);
}

void print_summary(const Options& o, const std::vector<Round>& rounds) {
  using W = WorkerRunResult;
  auto row = [&](const char* name, W Round::*side) {
    auto f = [side](double W::*field) { return [=](const Round& r) { return r.*side.*field; }; };
    fmt::print(
        "| {} | {} | {} | {} | {} | {} | {} |\n", name, spread(rounds, f(&W::rate), "{:.0f}"),
        spread(rounds, f(&W::cpu_us_per_job), "{:.0f}"), spread(rounds, f(&W::p50_ms), "{:.2f}"),
        spread(rounds, f(&W::p95_ms), "{:.2f}"), spread(rounds, f(&W::p99_ms), "{:.2f}"),
        spread(
            rounds,
            [side](const Round& r) {
              return static_cast<double>((r.*side).rss_kib + (r.*side).children_rss_kib) / 1024.0;
            },
            "{:.0f}"));
  };
  fmt::print(
      "\n{} jobs, concurrency {}, prefetch {}, store max_delay {}; median (min–max) of {} "
      "rounds\n\n",
      o.spec.jobs, o.spec.concurrency, effective_prefetch(o.spec),
      o.spec.store_max_delay_ms < 0 ? std::string("default")
                                    : std::to_string(o.spec.store_max_delay_ms) + " ms",
      o.rounds);
  fmt::print("| side | jobs/s | CPU us/job | p50 ms | p95 ms | p99 ms | peak RSS MiB |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|\n");
  fmt::print("| A: bare consumer, ack each | {} | | | | | |\n",
             spread(
                 rounds, [](const Round& r) { return r.bare; }, "{:.0f}"));
  row("T: worker, thread pool", &Round::threads);
  row("P: worker, process pool", &Round::processes);
  auto ratio = [&](W Round::*side) {
    return spread(
        rounds, [side](const Round& r) { return (r.*side).rate / r.bare; }, "{:.2f}");
  };
  fmt::print("\nworker / bare: thread pool {}, process pool {}\n", ratio(&Round::threads),
             ratio(&Round::processes));
}

} // namespace
} // namespace celeriac::bench

int main(int argc, char** argv) {
  using namespace celeriac::bench;
  try {
    if (auto status = run_role(argc, argv)) return *status;
    Options o = parse_options(argc, argv);
    std::vector<Round> rounds;
    for (int i = 1; i <= o.rounds; ++i) {
      Round r;
      r.bare = run_bare_baseline(o.spec);
      fmt::print("round {}  bare    {:8.0f} msgs/s (prefetch {})\n", i, r.bare,
                 effective_prefetch(o.spec));
      o.spec.pool = celeriac::PoolKind::Thread;
      r.threads = run_worker(o.spec);
      print_worker(i, "thread", r.threads);
      o.spec.pool = celeriac::PoolKind::Process;
      r.processes = run_worker(o.spec);
      print_worker(i, "process", r.processes);
      std::fflush(stdout);
      rounds.push_back(r);
    }
    print_summary(o, rounds);
    return 0;
  } catch (const UsageError& e) {
    fmt::print(stderr, "worker_bench: {}\n{}", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "worker_bench: {}\n", e.what());
    return 1;
  }
}
