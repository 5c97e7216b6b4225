// What the scheduler keeps in the store: the schedules it was configured with
// (`schedules`), one row per fire (`schedule_fires`, whose primary key
// (schedule, fire_time) makes a fire happen once however many schedulers race),
// and the advisory lock its replicas elect a leader with (docs/store.md
// "schedules", docs/scheduler.md).
//
// Threading: plain functions on the caller's connection; one thread per connection.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac::store {

// One configured schedule as the scheduler syncs it.
struct ScheduleDefinition {
  std::string name;
  nlohmann::json definition; // the [[schedules]] entry as JSON
  bool enabled = true;
};

struct ScheduleSync {
  std::vector<std::string> added;   // no row before
  std::vector<std::string> changed; // definition or enabled changed, or it came back after removal
  std::vector<std::string> removed; // in the table, not in the list: now disabled, removed_at set
};

// Makes the table match DEFINITIONS, in one transaction: new names are
// inserted; a row whose definition or enabled flag differs (or that had been
// removed) gets them, removed_at cleared and updated_at = now(); rows not in
// DEFINITIONS that are not yet removed become enabled = false, removed_at =
// now(), updated_at = now(). Unchanged rows keep their updated_at. Fires are
// never deleted. Names in each list are sorted.
ScheduleSync sync_schedules(pqxx::connection_base& conn, const std::string& schema,
                            std::span<const ScheduleDefinition> definitions);

struct ScheduleRow {
  std::string name;
  nlohmann::json definition;
  bool enabled = true;
  Timestamp updated_at;
  std::optional<Timestamp> removed_at;
  std::optional<Timestamp> last_fire;        // latest non-manual fire_time
  std::optional<Timestamp> last_manual_fire; // latest manual fire_time
};

// Every row of `schedules`, by name, with its latest fires.
std::vector<ScheduleRow> list_schedules(pqxx::connection_base& conn, const std::string& schema);

struct FireRecord {
  std::string schedule;
  Timestamp fire_time;
  JobId job_id;
  bool manual = false;
  std::optional<Timestamp> published_at; // nullopt: recorded, not yet confirmed by the broker
};

// Inserts FIRES (in one statement) where neither (schedule, fire_time) nor
// job_id has a row yet, and returns the ones inserted, in input order. The
// schedules must exist (sync_schedules first). published_at of the input is
// ignored: a new fire is unpublished.
std::vector<FireRecord> record_fires(pqxx::connection_base& conn, const std::string& schema,
                                     std::span<const FireRecord> fires);

// Sets published_at = now() on FIRES (by schedule and fire_time) that have none.
void mark_published(pqxx::connection_base& conn, const std::string& schema,
                    std::span<const FireRecord> fires);

// Recorded but not yet published fires of enabled, configured schedules that
// were recorded at least MIN_AGE ago (by the database's clock), oldest
// fire_time first, at most LIMIT. The age keeps a leader away from fires
// another process is still publishing.
std::vector<FireRecord> unpublished_fires(pqxx::connection_base& conn, const std::string& schema,
                                          std::size_t limit, Duration min_age = Duration::zero());

// Inserts DEFINITION's row unless a schedule of that name exists (whatever
// its definition); true when it inserted. For a manual fire of a schedule no
// leader has synced yet: it never changes another schedule's row.
bool add_schedule_if_absent(pqxx::connection_base& conn, const std::string& schema,
                            const ScheduleDefinition& definition);

// The fires of SCHEDULE with fire_time >= SINCE, oldest first.
std::vector<FireRecord> fires_of(pqxx::connection_base& conn, const std::string& schema,
                                 const std::string& schedule, Timestamp since = Timestamp{});

// pg_try_advisory_lock(KEY) on CONN's session: true when this session holds
// it now (also when it already did). The lock lives until the session ends.
bool try_advisory_lock(pqxx::connection_base& conn, std::int64_t key);

// Whether CONN's session holds the advisory lock KEY (pg_locks).
bool holds_advisory_lock(pqxx::connection_base& conn, std::int64_t key);

// The session holding advisory lock KEY, from pg_locks and pg_stat_activity.
struct LockHolder {
  int backend_pid = 0;
  std::string application_name; // what the holder set, e.g. "celeriac-scheduler host:pid"
  std::optional<std::string> client_addr;
  std::optional<Timestamp> backend_start;
};
std::optional<LockHolder> advisory_lock_holder(pqxx::connection_base& conn, std::int64_t key);

} // namespace celeriac::store
