// store_writer_bench: job state changes committed per second by the
// StoreWriter, next to a baseline that writes one change per transaction (what
// a result backend without batching does), in the same run.
//
//   store_writer_bench [--jobs N] [--baseline-jobs M] [--batch B] [--rounds R]
//
// It connects to $CELERIAC_DATABASE_URL and, each round, migrates a fresh
// schema, then:
//  A. baseline: for M jobs, RECEIVED, STARTED, SUCCESS each as its own
//     apply_changes() transaction on one connection;
//  B. StoreWriter: for N jobs, the same three changes submitted as fast as the
//     loop can, the clock running from the first submit to the last
//     completion; latency is submit to completion, per change.
// It checks that every job ended SUCCESS, drops the schema, and prints each
// round and a markdown table of medians plus peak RSS. Timing never fails it:
// it exits 1 only when a change failed or a count does not match, 2 on bad usage.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <uv.h>
#include <pqxx/pqxx>

#include "celeriac/store/migrations.hpp"
#include "celeriac/store/store_writer.hpp"

namespace celeriac::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int jobs = 50'000;
  int baseline_jobs = 1'000;
  std::size_t batch = 1000;
  int rounds = 3;
};

struct Round {
  double baseline_rate = 0;
  double writer_rate = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int parse_int(const std::string& flag, const std::string& text) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 1)
    throw UsageError(fmt::format("{} wants a whole number of at least 1, not '{}'", flag, text));
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    const int value = parse_int(flag, argv[i + 1]);
    if (flag == "--jobs")
      o.jobs = value;
    else if (flag == "--baseline-jobs")
      o.baseline_jobs = value;
    else if (flag == "--batch")
      o.batch = static_cast<std::size_t>(value);
    else if (flag == "--rounds")
      o.rounds = value;
    else
      throw UsageError("unknown option " + flag);
  }
  return o;
}

std::vector<store::JobChange> job_life(std::mt19937_64& rng, int n) {
  JobId::Bytes bytes;
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  Job job;
  job.id = JobId::v4(bytes);
  job.task = "jira.sync_issue";
  job.queue = "default";
  job.args = {fmt::format("PROJ-{}", n)};
  job.kwargs = {{"force", false}};
  const Timestamp now = Timestamp{} + std::chrono::seconds(1'700'000'000);
  store::JobChange started = store::job_change(job.id, JobState::Started, now);
  store::JobChange done = store::job_change(job.id, JobState::Success, now);
  done.result = {{"updated", true}, {"issue", n}};
  return {store::received_change(job, now, "bench:1"), started, done};
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double run_baseline(const std::string& url, const std::string& schema, int jobs,
                    std::mt19937_64& rng) {
  pqxx::connection conn{url};
  const auto start = Clock::now();
  for (int i = 0; i < jobs; ++i) {
    for (const auto& change : job_life(rng, i)) {
      pqxx::work txn{conn};
      store::apply_changes(txn, schema, std::span(&change, 1));
      txn.commit();
    }
  }
  return 3.0 * jobs / seconds_since(start);
}

void run_writer(const std::string& url, const std::string& schema, const Options& o,
                std::mt19937_64& rng, Round& round) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  store::StoreWriterOptions options;
  options.database_url = url;
  options.schema = schema;
  options.max_batch = o.batch;
  options.max_pending =
      static_cast<std::size_t>(o.jobs) * 3 + 1; // measure throughput, not pressure
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(o.jobs) * 3);
  std::size_t failed = 0;
  {
    store::StoreWriter writer(&loop, options);
    writer.start();
    std::vector<std::vector<store::JobChange>> lives;
    for (int i = 0; i < o.jobs; ++i)
      lives.push_back(job_life(rng, i));
    const auto start = Clock::now();
    for (auto& life : lives) {
      for (auto& change : life) {
        writer.submit(
            std::move(change), [&, submitted = Clock::now()](const store::WriteOutcome& r) {
              latencies_ms.push_back(
                  std::chrono::duration<double, std::milli>(Clock::now() - submitted).count());
              failed += !r.committed;
            });
      }
    }
    while (latencies_ms.size() < static_cast<std::size_t>(o.jobs) * 3)
      uv_run(&loop, UV_RUN_ONCE);
    round.writer_rate = 3.0 * o.jobs / seconds_since(start);
    bool closed = false;
    writer.close(std::chrono::seconds(5), [&](std::size_t) { closed = true; });
    while (!closed)
      uv_run(&loop, UV_RUN_ONCE);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  if (failed > 0) throw std::runtime_error(fmt::format("{} changes failed", failed));
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto at = [&](double q) {
    return latencies_ms[static_cast<std::size_t>(q * (latencies_ms.size() - 1))];
  };
  round.p50_ms = at(0.50);
  round.p99_ms = at(0.99);
  round.max_ms = latencies_ms.back();
}

void check_and_drop(const std::string& url, const std::string& schema, int expected) {
  pqxx::connection conn{url};
  pqxx::work txn{conn};
  const long done = txn.exec1("select count(*) from " + txn.quote_name(schema) +
                              ".jobs where state = 'SUCCESS'")[0]
                        .as<long>();
  txn.exec0("drop schema " + txn.quote_name(schema) + " cascade");
  txn.commit();
  if (done != expected)
    throw std::runtime_error(fmt::format("{} jobs ended SUCCESS, expected {}", done, expected));
}

Round run_round(const std::string& url, const Options& o, int index, std::mt19937_64& rng) {
  const std::string base = fmt::format("celeriac_bench_{}_{}", ::getpid(), index);
  Round round;
  {
    pqxx::connection conn{url};
    store::migrate(conn, base + "_a");
    store::migrate(conn, base + "_b");
  }
  round.baseline_rate = run_baseline(url, base + "_a", o.baseline_jobs, rng);
  check_and_drop(url, base + "_a", o.baseline_jobs);
  run_writer(url, base + "_b", o, rng, round);
  check_and_drop(url, base + "_b", o.jobs);
  return round;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace
} // namespace celeriac::bench

int main(int argc, char** argv) {
  using namespace celeriac::bench;
  try {
    const Options o = parse_options(argc, argv);
    const char* url = std::getenv("CELERIAC_DATABASE_URL");
    if (url == nullptr || *url == '\0')
      throw UsageError("CELERIAC_DATABASE_URL is not set (eval \"$(scripts/services env)\")");
    std::mt19937_64 rng{std::random_device{}()};
    std::vector<Round> rounds;
    for (int i = 0; i < o.rounds; ++i) {
      rounds.push_back(run_round(url, o, i, rng));
      const Round& r = rounds.back();
      fmt::print(
          "round {}: baseline {:.0f} changes/s, StoreWriter {:.0f} changes/s "
          "(latency p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms)\n",
          i + 1, r.baseline_rate, r.writer_rate, r.p50_ms, r.p99_ms, r.max_ms);
    }
    auto pick = [&](double Round::*field) {
      std::vector<double> v;
      for (const Round& r : rounds)
        v.push_back(r.*field);
      return median(v);
    };
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    fmt::print("\n| side | changes/s (median of {}) | p50 ms | p99 ms |\n|---|---|---|---|\n",
               o.rounds);
    fmt::print("| A: one transaction per change ({} jobs x 3) | {:.0f} | | |\n", o.baseline_jobs,
               pick(&Round::baseline_rate));
    fmt::print("| B: StoreWriter, batch {} ({} jobs x 3) | {:.0f} | {:.1f} | {:.1f} |\n", o.batch,
               o.jobs, pick(&Round::writer_rate), pick(&Round::p50_ms), pick(&Round::p99_ms));
    fmt::print("\nB/A: {:.1f}x; peak RSS {} MiB\n",
               pick(&Round::writer_rate) / pick(&Round::baseline_rate), usage.ru_maxrss / 1024);
    return 0;
  } catch (const UsageError& e) {
    fmt::print(stderr,
               "store_writer_bench: {}\nusage: store_writer_bench [--jobs N] "
               "[--baseline-jobs M] [--batch B] [--rounds R]\n",
               e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "store_writer_bench: {}\n", e.what());
    return 1;
  }
}
