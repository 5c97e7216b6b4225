// Scheduler: the `celeriac scheduler` daemon's engine. Any number of replicas
// run; one leads, elected by pg_try_advisory_lock on a connection of its own,
// and only the leader fires (docs/scheduler.md).
//
//   celeriac::scheduler::Scheduler scheduler(config, {});
//   std::thread loop([&] { scheduler.run(); });   // until stop()
//
// Exactly once: each due fire is first recorded in schedule_fires (primary
// key (schedule, fire_time), job id = UUID v5 of that pair) on the session
// that holds the lock, then published with confirms, then marked published.
// A leader that lost its session cannot record, so it cannot fire; a fire
// recorded but not confirmed is published again by whoever leads next, with
// the same job id.
//
// Threading: tick() and run() belong to one thread (the loop). stop(),
// reload(), is_leader() and metrics() may be called from any thread.
// The clock: run() reads the system clock; tick(now) takes the instant from
// its caller, so tests drive the scheduler through DST days with a fake one.
#pragma once

#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/broker/publisher.hpp"
#include "celeriac/core/config.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"
#include "celeriac/scheduler/scheduler_metrics.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace celeriac::broker {
class BrokerThread;
}

namespace celeriac::scheduler {

struct SchedulerOptions {
  // This replica's name in logs and in pg_stat_activity ("host:pid" by default).
  std::string name;
  // How often a standby tries for the lock, and a leader checks it still has it.
  Duration lock_interval = std::chrono::seconds(1);
  // How long a pass waits for the broker's confirms (never past the next due
  // fire); what is not confirmed by then is marked by a later pass when its
  // confirm comes, or published again if the broker refused it.
  Duration publish_timeout = std::chrono::seconds(10);
  // How often unconfirmed fires are published again while this replica leads.
  Duration republish_interval = std::chrono::seconds(5);
  // How long a recorded fire must have been unpublished before this replica
  // publishes it again: younger ones may still be on their way from another
  // process (`schedules run` waits as long for its confirm).
  Duration republish_after = std::chrono::seconds(10);
};

class Scheduler {
 public:
  // Connects to the broker (declaring the configured queues); the database is
  // connected on the first tick. Throws InfrastructureError when the broker
  // cannot be reached, InvalidInput for a schedule that cannot be evaluated.
  Scheduler(Config config, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // One pass at NOW: keeps or seeks the lock; as leader, publishes fires left
  // unconfirmed and fires every due one. Returns when the next pass is due
  // (never later than NOW + lock_interval while standing by). Never throws
  // for a lost server: it logs, stands down and tries again later.
  Timestamp tick(Timestamp now);

  // Passes on the system clock until stop(), sleeping in between; a reload()
  // or stop() wakes it at once. Gives up the lock (closes its session) on return.
  void run();
  void stop();
  // Replaces the configuration at the next pass; a leader syncs the
  // schedules table again. Broker or database settings need a restart.
  void reload(Config config);

  bool is_leader() const { return metrics_.leader(); }
  const SchedulerMetrics& metrics() const { return metrics_; }

 private:
  struct Entry; // one schedule, parsed, and how far it has fired
  struct Fire;  // one fire to publish
  void connect_database();
  void drop_database(const std::string& why);
  void become_leader(Timestamp now);
  void apply_config();
  void sync_schedules();
  void republish(Timestamp now);
  void collect_in_flight();
  void log_failure(Timestamp now, const std::string& what);
  void take_reload(Config config);
  // The caller's clock as of this tick, advanced by the time the tick took.
  Timestamp clock_now() const;
  Timestamp fire_due(Timestamp now);
  void publish_and_mark(const std::vector<Fire>& fires, Timestamp now, bool count_lag,
                        Timestamp next_due);

  Config config_;
  SchedulerOptions options_;
  std::int64_t lock_key_;
  SchedulerMetrics metrics_;
  std::unique_ptr<broker::BrokerThread> broker_;
  std::unique_ptr<pqxx::connection> db_; // the lock's session, when connected
  std::vector<Entry> entries_;           // the enabled schedules
  Timestamp next_lock_check_{};
  Timestamp next_republish_{};
  Timestamp next_failure_log_{};
  Timestamp tick_now_{};
  std::chrono::steady_clock::time_point tick_started_{};
  std::string last_failure_;
  // Fires handed to the broker thread whose confirm did not come in time.
  std::map<JobId, std::pair<store::FireRecord, std::future<broker::PublishResult>>> in_flight_;

  std::mutex mutex_; // guards pending_config_ and stopping_
  std::condition_variable wake_;
  std::optional<Config> pending_config_;
  bool stopping_ = false;
};

} // namespace celeriac::scheduler
