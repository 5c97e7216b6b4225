// The scheduler's pass: lock, sync, republish, fire (scheduler.hpp).
#include "celeriac/scheduler/scheduler.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <pqxx/pqxx>
#include <set>

#include "celeriac/broker/broker_config.hpp"
#include "celeriac/broker/broker_thread.hpp"
#include "celeriac/broker/job_message.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/fire_plan.hpp"
#include "celeriac/scheduler/fire_job.hpp"
#include "celeriac/store/database_url.hpp"
#include "celeriac/store/schedule_store.hpp"
#include "schedule_rows.hpp"

namespace celeriac::scheduler {

struct Scheduler::Entry {
  ScheduleConfig config;
  Schedule schedule;
  CatchUpRule rule;
  Timestamp cursor; // the last fire time handled; meaningful while leading
};

struct Scheduler::Fire {
  const Entry* entry = nullptr; // the configured schedule it belongs to
  store::FireRecord record;
};

namespace {

// How many unconfirmed fires one pass publishes again.
constexpr std::size_t kRepublishBatch = 1000;

std::string default_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, ::getpid());
}

// Keep to libpq's plain parameter characters (database_url.hpp).
std::string application_name(const std::string& name) {
  std::string out = "celeriac-scheduler/";
  for (const char c : name) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) != 0 ||
                       std::string_view("-_.:/@").find(c) != std::string_view::npos;
    out += plain ? c : '_';
  }
  return out;
}

} // namespace

Scheduler::Scheduler(Config config, SchedulerOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      lock_key_(scheduler_lock_key(config_)) {
  if (options_.name.empty()) options_.name = default_name();
  apply_config();
  broker_ = std::make_unique<broker::BrokerThread>(
      broker::broker_options(config_, "celeriac-scheduler " + options_.name));
}

Scheduler::~Scheduler() = default;

void Scheduler::apply_config() {
  std::vector<Entry> entries;
  for (const ScheduleConfig& schedule : config_.schedules) {
    if (!schedule.enabled) continue;
    Entry entry{schedule, schedule_of(schedule), catch_up_rule(schedule), Timestamp{}};
    // A schedule that stays keeps how far it fired.
    for (const Entry& old : entries_) {
      if (old.config == schedule) entry.cursor = old.cursor;
    }
    entries.push_back(std::move(entry));
  }
  entries_ = std::move(entries);
}

void Scheduler::connect_database() {
  std::string url = store::with_connect_timeout(config_.database.url, std::chrono::seconds(2));
  // The lock lives as long as this session: make a dead peer show quickly.
  url = store::with_parameter(url, "application_name", application_name(options_.name));
  url = store::with_parameter(url, "keepalives", "1");
  url = store::with_parameter(url, "keepalives_idle", "2");
  url = store::with_parameter(url, "keepalives_interval", "1");
  url = store::with_parameter(url, "keepalives_count", "2");
  url = store::with_parameter(url, "tcp_user_timeout", "3000");
  auto db = std::make_unique<pqxx::connection>(url);
  // The lock belongs to this session: libpqxx must never quietly open
  // another one, where a statement would run without the lock.
  // libpqxx 6.4 marks the switch deprecated (7.x drops reactivation for good)
  // but still reactivates by default.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  db->inhibit_reactivation(true);
#pragma GCC diagnostic pop
  // The server side of the same: a dead scheduler machine's session (and its
  // lock) ends within seconds, not after the kernel's two hours.
  pqxx::nontransaction tx{*db};
  tx.exec0(
      "set tcp_keepalives_idle = 1; set tcp_keepalives_interval = 1;"
      " set tcp_keepalives_count = 2; set tcp_user_timeout = 3000");
  db_ = std::move(db);
}

void Scheduler::drop_database(const std::string& why) {
  if (is_leader()) {
    spdlog::warn("scheduler {}: no longer the leader: {}", options_.name, why);
    metrics_.set_leader(false);
  }
  db_.reset();
}

void Scheduler::sync_schedules() {
  const auto sync =
      store::sync_schedules(*db_, config_.database.schema, detail::schedule_definitions(config_));
  for (const auto& name : sync.added)
    spdlog::info("schedule {}: added", name);
  for (const auto& name : sync.changed)
    spdlog::info("schedule {}: changed", name);
  for (const auto& name : sync.removed) {
    spdlog::info("schedule {}: removed from the configuration, disabled", name);
  }
  // Where each schedule resumes: its last fire, or when it was (re)defined,
  // so a new or changed schedule does not catch up on a past it never had.
  const auto rows = store::list_schedules(*db_, config_.database.schema);
  for (Entry& entry : entries_) {
    for (const store::ScheduleRow& row : rows) {
      if (row.name != entry.config.name) continue;
      // Never backwards: a schedule this replica has been firing keeps its
      // cursor (a reload must not count the same missed fires again).
      entry.cursor = std::max({entry.cursor, row.last_fire.value_or(Timestamp{}), row.updated_at});
    }
  }
}

void Scheduler::become_leader(Timestamp now) {
  sync_schedules();
  metrics_.set_leader(true);
  spdlog::info("scheduler {}: leader now (lock {}), {} schedule(s)", options_.name, lock_key_,
               entries_.size());
  next_republish_ = now; // fires a previous leader recorded but never confirmed
}

void Scheduler::take_reload(Config config) {
  // What the connections and the lock were made from stays as it was.
  if (config.broker != config_.broker || config.database != config_.database ||
      config.queues != config_.queues || config.scheduler != config_.scheduler) {
    spdlog::warn(
        "scheduler {}: reload: [broker], [database], [queues] and [scheduler] changes"
        " take effect at the next restart; the schedules are reloaded",
        options_.name);
  }
  config.broker = config_.broker;
  config.database = config_.database;
  config.queues = config_.queues;
  config.scheduler = config_.scheduler;
  const Config previous = config_;
  config_ = std::move(config);
  try {
    apply_config();
  } catch (const std::exception& e) {
    spdlog::error("scheduler {}: reload refused, the schedules stay as they were: {}",
                  options_.name, e.what());
    config_ = previous;
    return;
  }
  spdlog::info("scheduler {}: configuration reloaded, {} schedule(s)", options_.name,
               entries_.size());
  if (is_leader() && db_) sync_schedules();
}

Timestamp Scheduler::tick(Timestamp now) {
  tick_started_ = std::chrono::steady_clock::now();
  tick_now_ = now;
  const Timestamp retry = now + options_.lock_interval;
  try {
    std::optional<Config> reloaded;
    {
      const std::lock_guard lock(mutex_);
      reloaded.swap(pending_config_);
    }
    if (reloaded) take_reload(std::move(*reloaded));
    if (!db_) connect_database();
    if (!is_leader()) {
      if (!store::try_advisory_lock(*db_, lock_key_)) return retry;
      become_leader(now);
    } else if (now >= next_lock_check_) {
      if (!store::holds_advisory_lock(*db_, lock_key_)) {
        drop_database("the session no longer holds the lock");
        return retry;
      }
    }
    next_lock_check_ = now + options_.lock_interval;
    // Due fires first: what is late already must not make them late too.
    const Timestamp next = fire_due(now);
    if (now >= next_republish_) republish(clock_now());
    return std::min(next, next_lock_check_);
  } catch (const pqxx::broken_connection& e) {
    log_failure(now, fmt::format("database connection lost or refused: {}", e.what()));
    drop_database(fmt::format("database connection lost: {}", e.what()));
  } catch (const std::exception& e) {
    // A schema not migrated, a statement refused: the same each second.
    log_failure(now, e.what());
    drop_database(e.what());
  }
  return retry;
}

Timestamp Scheduler::clock_now() const {
  return tick_now_ +
         std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - tick_started_);
}

void Scheduler::log_failure(Timestamp now, const std::string& what) {
  if (what == last_failure_ && now < next_failure_log_ && !is_leader()) return;
  spdlog::error("scheduler {}: {}", options_.name, what);
  last_failure_ = what;
  next_failure_log_ = now + std::chrono::seconds(30);
}

Timestamp Scheduler::fire_due(Timestamp now) {
  Timestamp next = now + std::chrono::hours(24);
  std::vector<Fire> fires;
  std::vector<std::pair<Entry*, FirePlan>> plans;
  for (Entry& entry : entries_) {
    FirePlan plan = plan_fires(entry.schedule, entry.rule, entry.cursor, now);
    for (const Timestamp t : plan.due) {
      Fire fire;
      fire.entry = &entry;
      fire.record.schedule = entry.config.name;
      fire.record.fire_time = t;
      fire.record.job_id = fire_job_id(entry.config.name, t);
      fires.push_back(std::move(fire));
    }
    if (plan.next) next = std::min(next, *plan.next);
    plans.emplace_back(&entry, std::move(plan));
  }
  // The cursors move (and the missed fires count) only once the fires are
  // recorded: a database lost mid-pass leaves them for the next leader.
  const auto advance = [&] {
    for (auto& [entry, plan] : plans) {
      entry->cursor = plan.cursor;
      if (plan.missed == 0) continue;
      spdlog::warn("schedule {}: {} missed fire(s) dropped (catch_up = {})", entry->config.name,
                   plan.missed, to_string(entry->config.catch_up));
      metrics_.count_missed(entry->config.name, plan.missed);
    }
  };
  if (fires.empty()) {
    advance();
    return next;
  }

  // Recorded first, on the lock's session: a replica that lost the lock has
  // lost this session too, so it cannot get here with a fire.
  std::vector<store::FireRecord> records;
  for (const Fire& fire : fires)
    records.push_back(fire.record);
  std::set<JobId> ours;
  for (const auto& record : store::record_fires(*db_, config_.database.schema, records)) {
    ours.insert(record.job_id);
  }
  advance();
  std::vector<Fire> mine;
  for (Fire& fire : fires) {
    if (ours.contains(fire.record.job_id)) {
      mine.push_back(std::move(fire));
    } else {
      spdlog::warn("schedule {}: the fire at {} is already recorded; not firing it again",
                   fire.record.schedule, format_iso8601(fire.record.fire_time));
    }
  }
  publish_and_mark(mine, now, true, next);
  return next;
}

void Scheduler::collect_in_flight() {
  std::vector<store::FireRecord> confirmed;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    auto& [record, future] = it->second;
    if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++it;
      continue;
    }
    bool ok = false;
    try {
      ok = future.get().status == broker::PublishStatus::Confirmed;
    } catch (const std::future_error&) {
      // The broker thread is gone: published again by a later pass.
    }
    if (ok) {
      confirmed.push_back(record);
      metrics_.count_fires(record.schedule, 1);
    }
    it = in_flight_.erase(it);
  }
  // If this throws the confirmed fires stay unmarked, and are published again.
  store::mark_published(*db_, config_.database.schema, confirmed);
}

void Scheduler::republish(Timestamp now) {
  next_republish_ = now + options_.republish_interval;
  collect_in_flight();
  // Not the fires a publisher may still be working on (this replica's own
  // are in flight; another's, or `schedules run`'s, are younger than this).
  const auto unpublished = store::unpublished_fires(*db_, config_.database.schema, kRepublishBatch,
                                                    options_.republish_after);
  if (unpublished.empty()) return;
  std::vector<Fire> fires;
  for (const store::FireRecord& record : unpublished) {
    // Still on its way (the broker is slow or reconnecting): not again.
    if (in_flight_.contains(record.job_id)) continue;
    Fire fire;
    fire.record = record;
    for (const Entry& entry : entries_) {
      if (entry.config.name == record.schedule) fire.entry = &entry;
    }
    if (fire.entry == nullptr) {
      // The table says enabled, this replica's file says otherwise: its
      // reload is behind. The next leader (or the next sync) settles it.
      continue;
    }
    spdlog::info("schedule {}: publishing the fire at {} again (job {}): it was never confirmed",
                 record.schedule, format_iso8601(record.fire_time), record.job_id.str());
    fires.push_back(std::move(fire));
  }
  publish_and_mark(fires, now, false, now); // no wait: the confirms are collected later
}

void Scheduler::publish_and_mark(const std::vector<Fire>& fires, Timestamp now, bool count_lag,
                                 Timestamp next_due) {
  if (fires.empty()) return;
  const auto started = std::chrono::steady_clock::now();
  std::vector<broker::Outgoing> messages;
  std::vector<const Fire*> sent;
  for (const Fire& fire : fires) {
    try {
      const Job job =
          fire_job(config_, fire.entry->config, fire.record.fire_time, fire.record.job_id, now);
      messages.push_back(broker::job_message(job, now, config_.broker.max_body_bytes));
      sent.push_back(&fire);
    } catch (const InvalidInput& e) {
      // Stays recorded and unpublished: visible in `schedules list`, retried
      // after a configuration fix.
      spdlog::error("schedule {}: cannot build the job for the fire at {}: {}",
                    fire.record.schedule, format_iso8601(fire.record.fire_time), e.what());
    }
  }
  auto futures = broker_->publish(std::move(messages));
  // Confirms are waited for until the next fire is due at the latest: a
  // broker that is away must not make the loop miss its next fire. What is
  // not confirmed by then stays in flight, marked by a later pass.
  const auto deadline =
      started + std::min(options_.publish_timeout, std::max(Duration::zero(), next_due - now));
  std::vector<store::FireRecord> confirmed;
  std::uint64_t failures = 0;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    const Fire& fire = *sent[i];
    if (futures[i].wait_until(deadline) != std::future_status::ready) {
      // The broker thread keeps it (and sends it again after a reconnect):
      // a later pass marks it, rather than publishing a second copy.
      in_flight_.emplace(fire.record.job_id, std::make_pair(fire.record, std::move(futures[i])));
      ++failures;
      continue;
    }
    const broker::PublishResult result = futures[i].get();
    if (result.status != broker::PublishStatus::Confirmed) {
      spdlog::warn("schedule {}: the fire at {} was not published ({} {}); it is retried",
                   fire.record.schedule, format_iso8601(fire.record.fire_time),
                   broker::to_string(result.status), result.detail);
      ++failures;
      continue;
    }
    confirmed.push_back(fire.record);
    metrics_.count_fires(fire.record.schedule, 1);
    if (count_lag) metrics_.observe_lag(clock_now() - fire.record.fire_time);
  }
  if (failures > 0) {
    metrics_.count_publish_failures(failures);
    next_republish_ = std::min(next_republish_, now + options_.republish_interval);
  }
  store::mark_published(*db_, config_.database.schema, confirmed);
  for (const auto& record : confirmed) {
    spdlog::debug("schedule {}: fired {} as job {}", record.schedule,
                  format_iso8601(record.fire_time), record.job_id.str());
  }
}

void Scheduler::run() {
  for (;;) {
    const Timestamp now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    const Timestamp next = tick(now);
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    if (pending_config_) continue;
    wake_.wait_until(lock, next, [this] { return stopping_ || pending_config_.has_value(); });
    if (stopping_) break;
  }
  if (is_leader()) {
    spdlog::info("scheduler {}: stopping; the lock is released", options_.name);
    metrics_.set_leader(false);
  }
  db_.reset(); // ends the session, and with it the lock
}

void Scheduler::stop() {
  const std::lock_guard lock(mutex_);
  stopping_ = true;
  wake_.notify_all();
}

void Scheduler::reload(Config config) {
  const std::lock_guard lock(mutex_);
  pending_config_ = std::move(config);
  wake_.notify_all();
}

} // namespace celeriac::scheduler
