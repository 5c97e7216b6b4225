// engine_bench: celeriac end to end next to the broker's ceiling, in the same
// run (docs/PERFORMANCE.md, "The suite"). scripts/bench runs it, with the
// Celery side (bench/celery/), and renders both as one table.
//
//   engine_bench [--jobs N] [--concurrency C] [--prefetch P] [--latency-seconds S]
//                [--rounds R] [--domain-jobs J] [--domain-seconds D] [--json PATH]
//
// Each round runs, one after the other so that machine noise hits them alike:
//  ceiling  bare rabbitmq-c: N persistent 300-byte messages with priorities
//           published through a confirm window while a second connection
//           consumes (prefetch P) and acks each; then its drain: N published
//           first, then consumed the same way;
//  thread   one worker with a thread pool of C, results stored: N bench.noop
//           jobs queued by the C++ client before it starts (drain, as Celery
//           is measured), then N enqueued while it runs (end to end), then
//           latency at half the end-to-end rate;
//  process  the same with a process pool of C.
// Then the domain-scale run: J bench.sleep(D) jobs at once to a worker of
// concurrency J, each pool. Defaults: N 20000, C the cores, P the worker's
// default, S 10, R 3, J 50, D 2. Broker and database: $CELERIAC_BROKER_URL and
// $CELERIAC_DATABASE_URL. Timing never fails it: it exits 1 when a job or
// message went missing or a worker did not stop cleanly, 2 on bad usage.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_support.hpp"
#include "engine_run.hpp"
#include "worker_roles.hpp"

namespace celeriac::bench {
namespace {

struct Options {
  EngineSpec spec;
  int rounds = 3;
  std::size_t domain_jobs = 50;
  double domain_seconds = 2;
  std::string json_path;
};

constexpr const char* kUsage =
    "usage: engine_bench [--jobs N] [--concurrency C] [--prefetch P] [--latency-seconds S]\n"
    "                    [--rounds R] [--domain-jobs J] [--domain-seconds D] [--json PATH]\n"
    "  defaults: --jobs 20000 --concurrency <cores> --prefetch <the worker's default>\n"
    "            --latency-seconds 10 --rounds 3 --domain-jobs 50 --domain-seconds 2\n";

double parse_number(const std::string& flag, const std::string& text, double min) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min)
    throw UsageError(fmt::format("{} wants a number of at least {}, not '{}'", flag, min, text));
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  o.spec.concurrency = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") throw UsageError("");
    if (i + 1 >= argc) throw UsageError(flag + " wants a value");
    const std::string value = argv[i + 1];
    auto whole = [&](double min, double max) {
      const double v = parse_number(flag, value, min);
      if (v != static_cast<double>(static_cast<std::uint64_t>(v)) || v > max)
        throw UsageError(
            fmt::format("{} wants a whole number from {} to {}, not '{}'", flag, min, max, value));
      return static_cast<std::uint64_t>(v);
    };
    if (flag == "--jobs")
      o.spec.jobs = whole(100, 1e7);
    else if (flag == "--concurrency")
      o.spec.concurrency = whole(1, 1024);
    else if (flag == "--prefetch")
      o.spec.prefetch = static_cast<std::uint16_t>(whole(1, 65535));
    else if (flag == "--latency-seconds")
      o.spec.latency_seconds = parse_number(flag, value, 0.1);
    else if (flag == "--rounds")
      o.rounds = static_cast<int>(whole(1, 100));
    else if (flag == "--domain-jobs")
      o.domain_jobs = whole(0, 1024);
    else if (flag == "--domain-seconds")
      o.domain_seconds = parse_number(flag, value, 0);
    else if (flag == "--json")
      o.json_path = value;
    else
      throw UsageError("unknown option " + flag);
  }
  o.spec.broker_url = required_env("CELERIAC_BROKER_URL");
  o.spec.database_url = required_env("CELERIAC_DATABASE_URL");
  o.spec.executable = std::filesystem::read_symlink("/proc/self/exe");
  return o;
}

const char* pool_name(PoolKind pool) {
  return pool == PoolKind::Process ? "process" : "thread";
}

nlohmann::json to_json(const Percentiles& p) {
  return {{"p50_ms", p.p50}, {"p95_ms", p.p95}, {"p99_ms", p.p99}, {"max_ms", p.max}};
}

nlohmann::json to_json(const EndToEndResult& r, double ceiling) {
  return {{"pool", pool_name(r.pool)},
          {"prefetch", r.prefetch},
          {"jobs_per_s", r.rate},
          {"drain_jobs_per_s", r.drain_rate},
          {"ratio_to_ceiling", ceiling > 0 ? r.rate / ceiling : 0.0},
          {"cpu_us_per_job", r.cpu_us_per_job},
          {"broker_cpu_us_per_job", r.cpu.broker_us_per_job},
          {"database_cpu_us_per_job", r.cpu.database_us_per_job},
          {"client_cpu_us_per_job", r.cpu.client_us_per_job},
          {"busy_cores", r.cpu.busy_cores},
          {"drain_cpu",
           {{"worker_us_per_job", r.drain_cpu.worker_us_per_job},
            {"broker_us_per_job", r.drain_cpu.broker_us_per_job},
            {"database_us_per_job", r.drain_cpu.database_us_per_job},
            {"busy_cores", r.drain_cpu.busy_cores}}},
          {"paced_jobs_per_s", r.paced_rate},
          {"paced_jobs", r.paced_jobs},
          {"enqueue_to_start", to_json(r.to_start)},
          {"enqueue_to_done", to_json(r.to_done)},
          {"rss_idle_kib", r.rss_idle_kib},
          {"rss_load_kib", r.rss_load_kib},
          {"child_rss_idle_kib", r.child_rss_idle_kib},
          {"child_rss_load_kib", r.child_rss_load_kib},
          {"children", r.children}};
}

void print_end_to_end(int round, const EndToEndResult& r, double ceiling) {
  fmt::print(
      "round {}  {:<8} {:8.0f} jobs/s ({:.2f} of the ceiling) {:6.1f} us CPU/job, drain {:.0f} "
      "jobs/s | CPU/job: RabbitMQ {:.1f} us, PostgreSQL {:.1f} us, client {:.1f} us; {:.2f} cores "
      "busy | drain CPU/job: worker {:.1f} us, RabbitMQ {:.1f} us, PostgreSQL {:.1f} us; {:.2f} "
      "cores busy | paced "
      "{:.0f}/s: enqueue->start p50 {:.2f} p95 {:.2f} p99 {:.2f} ms, enqueue->done p50 {:.2f} "
      "p95 {:.2f} p99 {:.2f} ms | RSS idle {} KiB, load {} KiB, child {} KiB\n",
      round, pool_name(r.pool), r.rate, ceiling > 0 ? r.rate / ceiling : 0.0, r.cpu_us_per_job,
      r.drain_rate, r.cpu.broker_us_per_job, r.cpu.database_us_per_job, r.cpu.client_us_per_job,
      r.cpu.busy_cores, r.drain_cpu.worker_us_per_job, r.drain_cpu.broker_us_per_job,
      r.drain_cpu.database_us_per_job, r.drain_cpu.busy_cores, r.paced_rate, r.to_start.p50,
      r.to_start.p95, r.to_start.p99, r.to_done.p50, r.to_done.p95, r.to_done.p99, r.rss_idle_kib,
      r.rss_load_kib, r.child_rss_load_kib);
}

int run(const Options& o) {
  nlohmann::json out{{"jobs", o.spec.jobs},
                     {"concurrency", o.spec.concurrency},
                     {"prefetch", effective_prefetch(o.spec)},
                     {"latency_seconds", o.spec.latency_seconds},
                     {"rounds", nlohmann::json::array()},
                     {"domain", nlohmann::json::array()}};
  for (int i = 1; i <= o.rounds; ++i) {
    const CeilingResult ceiling = run_broker_ceiling(o.spec, effective_prefetch(o.spec));
    fmt::print(
        "round {}  ceiling  {:8.0f} msgs/s (bare rabbitmq-c, publish + consume, prefetch {}), "
        "drain {:.0f} msgs/s | RabbitMQ CPU/msg {:.1f} us, drained {:.1f} us; {:.2f} cores busy\n",
        i, ceiling.rate, ceiling.prefetch, ceiling.drain_rate, ceiling.broker_us_per_msg,
        ceiling.drain_broker_us_per_msg, ceiling.busy_cores);
    std::fflush(stdout);
    nlohmann::json round{{"ceiling_msgs_per_s", ceiling.rate},
                         {"drain_ceiling_msgs_per_s", ceiling.drain_rate},
                         {"ceiling_broker_cpu_us_per_msg", ceiling.broker_us_per_msg},
                         {"drain_ceiling_broker_cpu_us_per_msg", ceiling.drain_broker_us_per_msg},
                         {"ceiling_busy_cores", ceiling.busy_cores}};
    for (PoolKind pool : {PoolKind::Thread, PoolKind::Process}) {
      const EndToEndResult r = run_end_to_end(o.spec, pool);
      print_end_to_end(i, r, ceiling.rate);
      std::fflush(stdout);
      round[pool_name(pool)] = to_json(r, ceiling.rate);
    }
    out["rounds"].push_back(round);
  }
  if (o.domain_jobs > 0) {
    for (PoolKind pool : {PoolKind::Thread, PoolKind::Process}) {
      const DomainResult d =
          run_domain_scale(o.spec, pool, o.domain_jobs, o.domain_jobs, o.domain_seconds);
      fmt::print("domain   {:<8} {} jobs of {} s, concurrency {}: {:.2f} s wall\n", pool_name(pool),
                 d.jobs, d.job_seconds, d.concurrency, d.wall_seconds);
      std::fflush(stdout);
      out["domain"].push_back({{"pool", pool_name(pool)},
                               {"jobs", d.jobs},
                               {"job_seconds", d.job_seconds},
                               {"concurrency", d.concurrency},
                               {"wall_seconds", d.wall_seconds}});
    }
  }
  if (!o.json_path.empty()) {
    std::ofstream file(o.json_path);
    file << out.dump(2) << '\n';
    if (!file) throw std::runtime_error("cannot write " + o.json_path);
  }
  return 0;
}

} // namespace
} // namespace celeriac::bench

int main(int argc, char** argv) {
  using namespace celeriac::bench;
  try {
    if (auto status = run_role(argc, argv)) return *status;
    return run(parse_options(argc, argv));
  } catch (const UsageError& e) {
    fmt::print(stderr, "engine_bench: {}\n{}", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "engine_bench: {}\n", e.what());
    return 1;
  }
}
