// scheduler_bench: how late a leading Scheduler publishes its fires, next to
// how late a bare timed wait wakes on the same machine in the same run.
//
//   scheduler_bench [--seconds S] [--schedules K]
//
// Side by side, for S seconds (default 30):
//  baseline  a thread sleeping on a condition variable until each whole
//            second, measuring how late it woke: the floor any timer-driven
//            scheduler stands on;
//  scheduler a Scheduler (run() on the system clock) leading K schedules
//            (default 5) of `every = "1s"`, in a schema and queue of its own;
//            each fire's lag runs from its due time to the broker's confirm,
//            which includes recording the fire in PostgreSQL first.
// Prints p50/p95/p99/max of each and the number of fires. The broker and
// database are $CELERIAC_BROKER_URL and $CELERIAC_DATABASE_URL. Timing never
// fails it; it exits 1 when a fire is missing, 2 on bad usage.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/broker/queue_admin.hpp"
#include "celeriac/scheduler/scheduler.hpp"
#include "celeriac/store/migrations.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace {

using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw std::runtime_error(fmt::format("{} is not set (eval \"$(scripts/services env)\")", name));
  }
  return value;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

void print_row(const char* name, const std::vector<double>& lags_seconds) {
  const auto ms = [&](double p) { return percentile(lags_seconds, p) * 1000.0; };
  fmt::print("| {:<32} | {:>6} | {:>8.2f} | {:>8.2f} | {:>8.2f} | {:>8.2f} |\n", name,
             lags_seconds.size(), ms(0.5), ms(0.95), ms(0.99), ms(1.0));
}

// How late a condition-variable wait until each whole second wakes.
std::vector<double> baseline_lags(std::chrono::seconds duration) {
  std::mutex mutex;
  std::condition_variable never;
  std::vector<double> lags;
  const auto end = std::chrono::system_clock::now() + duration;
  std::unique_lock lock(mutex);
  for (;;) {
    const auto due = std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now());
    if (due > end) break;
    never.wait_until(lock, due, [] { return false; });
    lags.push_back(std::chrono::duration<double>(std::chrono::system_clock::now() - due).count());
  }
  return lags;
}

int parse_int(const std::string& text, const char* flag) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value <= 0) {
    throw std::invalid_argument(fmt::format("{} needs a positive integer, got '{}'", flag, text));
  }
  return value;
}

} // namespace

int main(int argc, char** argv) {
  int seconds = 30;
  int schedules = 5;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if ((arg == "--seconds" || arg == "--schedules") && i + 1 < argc) {
        (arg == "--seconds" ? seconds : schedules) = parse_int(argv[++i], arg.c_str());
      } else {
        throw std::invalid_argument("unknown argument " + arg);
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr,
               "scheduler_bench: {}\nusage: scheduler_bench [--seconds S] [--schedules K]\n",
               e.what());
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);

  const std::string suffix = fmt::format("{:x}", std::random_device{}());
  celeriac::Config config;
  config.broker.url = env("CELERIAC_BROKER_URL");
  config.database.url = env("CELERIAC_DATABASE_URL");
  config.database.schema = "celeriac_bench_sched_" + suffix;
  celeriac::QueueConfig queue;
  queue.name = "bench_sched_" + suffix;
  config.queues = {queue};
  for (int i = 0; i < schedules; ++i) {
    celeriac::ScheduleConfig s;
    s.name = fmt::format("tick{}", i);
    s.every = 1s;
    s.task = "bench.noop";
    s.queue = queue.name;
    s.expires = 5min; // the messages stay queued until the end
    config.schedules.push_back(s);
  }
  pqxx::connection db(config.database.url);
  celeriac::store::migrate(db, config.database.schema);

  fmt::print(
      "scheduler_bench: {} s, {} schedule(s) every 1s, side by side with a bare timed wait\n",
      seconds, schedules);
  celeriac::scheduler::SchedulerOptions options;
  options.name = "bench";
  celeriac::scheduler::Scheduler scheduler(config, options);
  std::thread loop([&] { scheduler.run(); });
  std::vector<double> baseline;
  std::thread waits([&] { baseline = baseline_lags(std::chrono::seconds(seconds)); });
  waits.join();
  scheduler.stop();
  loop.join();
  const std::vector<double> lags = scheduler.metrics().recent_lags();

  fmt::print("\n| {:<32} | {:>6} | {:>8} | {:>8} | {:>8} | {:>8} |\n", "fire lag", "n", "p50 ms",
             "p95 ms", "p99 ms", "max ms");
  fmt::print("|{:-<34}|{:->8}|{:->10}|{:->10}|{:->10}|{:->10}|\n", "", "", "", "", "", "");
  print_row("baseline: timed wait wake-up", baseline);
  print_row("scheduler: due -> confirmed", lags);

  // Every second the scheduler led must have one fire per schedule.
  int exit_code = 0;
  for (const auto& s : config.schedules) {
    const auto fires = celeriac::store::fires_of(db, config.database.schema, s.name);
    for (std::size_t i = 1; i < fires.size(); ++i) {
      if (fires[i].fire_time - fires[i - 1].fire_time != 1s) {
        fmt::print("MISSING: {} between {} and {}\n", s.name,
                   celeriac::format_iso8601(fires[i - 1].fire_time),
                   celeriac::format_iso8601(fires[i].fire_time));
        exit_code = 1;
      }
    }
  }
  {
    pqxx::work tx(db);
    tx.exec0("drop schema " + tx.quote_name(config.database.schema) + " cascade");
    tx.commit();
  }
  celeriac::broker::ConnectionOptions admin;
  admin.url = config.broker.url;
  celeriac::broker::QueueAdmin(admin).remove(queue.name);
  return exit_code;
}
