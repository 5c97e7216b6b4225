// `celeriac scheduler` (the daemon), `schedules list` and `schedules run`
// (docs/scheduler.md).
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "celeriac/core/error.hpp"
#include "celeriac/core/fire_plan.hpp"
#include "celeriac/scheduler/fire_job.hpp"
#include "celeriac/scheduler/scheduler.hpp"
#include "celeriac/scheduler/scheduler_http.hpp"
#include "celeriac/store/schedule_store.hpp"
#include "commands.hpp"
#include "job_output.hpp"
#include "log_format.hpp"
#include "server_access.hpp"
#include "text_table.hpp"

namespace celeriac::cli {
namespace {

Timestamp now_utc() {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

std::string optional_time(const std::optional<Timestamp>& t) {
  return t ? format_iso8601(*t) : "-";
}

// The signals the daemon waits for on its main thread, blocked in every
// thread it starts so that only sigwait sees them.
sigset_t daemon_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

} // namespace

int run_scheduler(const Invocation& invocation) {
  auto options = command_options(
      invocation,
      "Fire the configured schedules; run any number of replicas, one leads (SIGHUP reloads the"
      " configuration, SIGTERM stops)",
      "");
  options.add_options()("http", "serve /healthz and /metrics on HOST:PORT",
                        cxxopts::value<std::string>())(
      "name", "this replica's name in logs and pg_stat_activity (default: host:pid)",
      cxxopts::value<std::string>())("log-format", "text (default) or json",
                                     cxxopts::value<std::string>());
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const auto load = [&] {
    Config config = load_config(find_config_file(*parsed, invocation), *parsed, invocation);
    if (const auto http = string_option(*parsed, "http")) {
      apply_override(config, "scheduler.http", *http);
    }
    if (const auto format = string_option(*parsed, "log-format")) {
      apply_override(config, "worker.log_format", *format);
    }
    return config;
  };
  Config config = load();
  spdlog::set_level(spdlog::level::info);
  use_log_format(config.worker.log_format);

  const sigset_t signals = daemon_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr); // before any thread starts

  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.name = string_option(*parsed, "name").value_or("");
  const std::optional<std::string> http = config.scheduler.http;
  scheduler::Scheduler scheduler(std::move(config), scheduler_options);
  std::unique_ptr<scheduler::SchedulerHttp> endpoint;
  if (http) {
    endpoint = std::make_unique<scheduler::SchedulerHttp>(scheduler.metrics(), *http);
    spdlog::info("scheduler: /healthz and /metrics on port {}", endpoint->port());
  }
  std::thread loop([&scheduler] { scheduler.run(); });
  spdlog::info("scheduler: started; standing by for the lock");
  for (;;) {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) continue;
    if (signal != SIGHUP) {
      spdlog::info("scheduler: {} received, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    try {
      scheduler.reload(load());
    } catch (const std::exception& e) {
      // A broken file keeps the running configuration.
      spdlog::error("scheduler: SIGHUP: the configuration was not reloaded: {}", e.what());
    }
  }
  scheduler.stop();
  loop.join();
  return kExitOk;
}

int run_schedules_list(const Invocation& invocation) {
  auto options = command_options(
      invocation, "List the schedules: timing, last and next fire, and which scheduler leads", "");
  options.add_options()("json", "print JSON");
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  const auto db = open_database(config);
  const auto rows = store::list_schedules(*db, config.database.schema);
  const auto holder = store::advisory_lock_holder(*db, scheduler_lock_key(config));
  const Timestamp now = now_utc();

  nlohmann::json out = nlohmann::json::array();
  TextTable table(
      {{"NAME"}, {"TIMING"}, {"TASK"}, {"ENABLED"}, {"LAST FIRE"}, {"NEXT FIRE"}, {"CATCH UP"}});
  // The configuration's schedules first (what the leader syncs), then rows
  // only the database still has (removed ones).
  const auto row_of = [&](const std::string& name) -> const store::ScheduleRow* {
    for (const auto& row : rows) {
      if (row.name == name) return &row;
    }
    return nullptr;
  };
  for (const ScheduleConfig& schedule : config.schedules) {
    const store::ScheduleRow* row = row_of(schedule.name);
    const Schedule timing = schedule_of(schedule);
    std::optional<Timestamp> next;
    if (schedule.enabled) next = timing.next_after(now);
    const std::optional<Timestamp> last = row ? row->last_fire : std::nullopt;
    out.push_back({{"name", schedule.name},
                   {"timing", timing.describe()},
                   {"task", schedule.task},
                   {"enabled", schedule.enabled},
                   {"synced", row != nullptr},
                   {"last_fire", time_or_null(last)},
                   {"last_manual_fire", time_or_null(row ? row->last_manual_fire : std::nullopt)},
                   {"next_fire", time_or_null(next)},
                   {"catch_up", to_string(schedule.catch_up)}});
    table.add_row({schedule.name, timing.describe(), schedule.task, schedule.enabled ? "yes" : "no",
                   optional_time(last), optional_time(next),
                   std::string(to_string(schedule.catch_up))});
  }
  for (const auto& row : rows) {
    const bool configured = std::any_of(config.schedules.begin(), config.schedules.end(),
                                        [&](const auto& s) { return s.name == row.name; });
    if (configured) continue;
    out.push_back({{"name", row.name},
                   {"timing", nullptr},
                   {"task", row.definition.value("task", "")},
                   {"enabled", row.enabled},
                   {"synced", true},
                   {"removed_at", time_or_null(row.removed_at)},
                   {"last_fire", time_or_null(row.last_fire)}});
    table.add_row({row.name, "(removed)", row.definition.value("task", ""), "no",
                   optional_time(row.last_fire), "-", "-"});
  }

  const std::string leader = holder ? holder->application_name : std::string();
  if (flag_option(*parsed, "json")) {
    invocation.out << nlohmann::json{{"leader", holder ? nlohmann::json(leader) : nullptr},
                                     {"schedules", out}}
                          .dump(2)
                   << "\n";
    return kExitOk;
  }
  table.print(invocation.out);
  invocation.out << (holder ? fmt::format("leader: {}\n", leader.empty() ? "(unnamed)" : leader)
                            : "leader: none (no scheduler holds the lock)\n");
  return kExitOk;
}

int run_schedules_run(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Fire a schedule now, recorded as a manual fire (no scheduler needed)", "NAME");
  options.add_options()("json", "print the fire as JSON");
  const auto parsed = parse_command(options, invocation, {"NAME"});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  const std::string& name = parsed->positional[0];
  const store::FireRecord fire = scheduler::fire_now(config, name, now_utc());
  if (flag_option(*parsed, "json")) {
    invocation.out << nlohmann::json{{"schedule", fire.schedule},
                                     {"fire_time", format_iso8601(fire.fire_time)},
                                     {"job_id", fire.job_id.str()},
                                     {"manual", true}}
                          .dump()
                   << "\n";
  } else {
    invocation.out << fire.job_id.str() << "\n";
  }
  return kExitOk;
}

} // namespace celeriac::cli
