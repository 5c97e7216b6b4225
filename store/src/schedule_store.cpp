// The scheduler's tables and leader lock (schedule_store.hpp). Batches travel
// as one jsonb parameter expanded by jsonb_to_recordset; timestamps go out as
// ISO-8601 text cast to timestamptz and come back as UTC text, so neither the
// session's time zone nor floating-point epochs can shift them. Definitions
// are compared as jsonb by the server, not as nlohmann::json.
#include "celeriac/store/schedule_store.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "sql_text.hpp"

namespace celeriac::store {
namespace {

using detail::qualified_table;
using detail::time_or_null;
using detail::utc_text;

Timestamp time_of(const pqxx::field& field, const char* what) {
  auto parsed = time_or_null(field, what);
  if (!parsed) throw InfrastructureError(fmt::format("{}: unexpected null", what));
  return *parsed;
}

JobId job_id_of(const pqxx::field& field) {
  auto id = JobId::parse(field.c_str());
  if (!id)
    throw InfrastructureError(fmt::format("schedule_fires.job_id: unreadable '{}'", field.c_str()));
  return *id;
}

// Replace, not throw: a definition may carry invalid UTF-8 from a config file.
std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The conditions selecting advisory lock KEY (the $1 parameter) in pg_locks
// row L: pg_try_advisory_lock(bigint) puts the key's high half in classid and
// its low half in objid (both oid, unsigned), with objsubid 1.
std::string advisory_key_sql(std::string_view l) {
  return fmt::format(
      "{0}.locktype = 'advisory' and {0}.granted and {0}.objsubid = 1"
      " and {0}.database = (select oid from pg_database where datname = current_database())"
      " and {0}.classid::bigint = (($1::bigint >> 32) & 4294967295)"
      " and {0}.objid::bigint = ($1::bigint & 4294967295)",
      l);
}

std::string fire_columns() {
  return "schedule, " + utc_text("fire_time") + ", job_id::text, manual, " +
         utc_text("published_at");
}

std::vector<FireRecord> fires_from(const pqxx::result& rows) {
  std::vector<FireRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    FireRecord fire;
    fire.schedule = row[0].as<std::string>();
    fire.fire_time = time_of(row[1], "schedule_fires.fire_time");
    fire.job_id = job_id_of(row[2]);
    fire.manual = row[3].as<bool>();
    fire.published_at = time_or_null(row[4], "schedule_fires.published_at");
    out.push_back(std::move(fire));
  }
  return out;
}

} // namespace

ScheduleSync sync_schedules(pqxx::connection_base& conn, const std::string& schema,
                            std::span<const ScheduleDefinition> definitions) {
  const std::string schedules = qualified_table(conn, schema, "schedules");
  nlohmann::json rows = nlohmann::json::array();
  std::set<std::string> names;
  for (const ScheduleDefinition& d : definitions) {
    if (!names.insert(d.name).second)
      throw InvalidInput("schedules", fmt::format("duplicate schedule name '{}'", d.name));
    rows.push_back({{"name", d.name}, {"definition", d.definition}, {"enabled", d.enabled}});
  }
  const std::string incoming =
      "jsonb_to_recordset($1::jsonb) as i(name text, definition jsonb, enabled boolean)";
  const std::string payload = dump(rows);

  pqxx::work tx{conn};
  // Serialises syncs (a second one then sees the first's rows) while fires,
  // whose foreign key takes only ROW SHARE, go on being recorded.
  tx.exec0("lock table " + schedules + " in share row exclusive mode");
  // What each name needs, decided by the server so that definitions compare as jsonb.
  const auto plan = tx.exec_params(
      "select coalesce(i.name, s.name),"
      " case when s.name is null then 'added'"
      " when i.name is null then case when s.removed_at is null then 'removed' end"
      " when s.removed_at is not null or s.enabled is distinct from i.enabled"
      " or s.definition is distinct from coalesce(i.definition, 'null'::jsonb) then 'changed'"
      " end from " +
          incoming + " full join " + schedules + " s on s.name = i.name",
      payload);
  ScheduleSync sync;
  for (const auto& row : plan) {
    if (row[1].is_null()) continue;
    const std::string what = row[1].as<std::string>();
    auto& list = what == "added" ? sync.added : what == "changed" ? sync.changed : sync.removed;
    list.push_back(row[0].as<std::string>());
  }
  tx.exec_params("insert into " + schedules +
                     " as s (name, definition, enabled)"
                     " select i.name, coalesce(i.definition, 'null'::jsonb), i.enabled from " +
                     incoming +
                     " on conflict (name) do update set definition = excluded.definition,"
                     " enabled = excluded.enabled, removed_at = null, updated_at = now()"
                     " where s.removed_at is not null or s.enabled is distinct from"
                     " excluded.enabled or s.definition is distinct from excluded.definition",
                 payload);
  tx.exec_params("update " + schedules +
                     " set enabled = false, removed_at = now(), updated_at = now()"
                     " where removed_at is null and name not in (select i.name from " +
                     incoming + ")",
                 payload);
  tx.commit();
  for (auto* list : {&sync.added, &sync.changed, &sync.removed})
    std::sort(list->begin(), list->end());
  return sync;
}

std::vector<ScheduleRow> list_schedules(pqxx::connection_base& conn, const std::string& schema) {
  const std::string schedules = qualified_table(conn, schema, "schedules");
  const std::string fires = qualified_table(conn, schema, "schedule_fires");
  auto latest = [&](const char* manual) {
    return "(select " + utc_text("max(f.fire_time)") + " from " + fires +
           " f where f.schedule = s.name and f.manual = " + manual + ")";
  };
  pqxx::read_transaction tx{conn};
  const auto rows =
      tx.exec("select s.name, s.definition::text, s.enabled, " + utc_text("s.updated_at") + ", " +
              utc_text("s.removed_at") + ", " + latest("false") + ", " + latest("true") + " from " +
              schedules + " s order by s.name collate \"C\"");
  std::vector<ScheduleRow> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    ScheduleRow schedule;
    schedule.name = row[0].as<std::string>();
    schedule.definition = nlohmann::json::parse(row[1].c_str());
    schedule.enabled = row[2].as<bool>();
    schedule.updated_at = time_of(row[3], "schedules.updated_at");
    schedule.removed_at = time_or_null(row[4], "schedules.removed_at");
    schedule.last_fire = time_or_null(row[5], "schedule_fires.fire_time");
    schedule.last_manual_fire = time_or_null(row[6], "schedule_fires.fire_time");
    out.push_back(std::move(schedule));
  }
  return out;
}

std::vector<FireRecord> record_fires(pqxx::connection_base& conn, const std::string& schema,
                                     std::span<const FireRecord> fires) {
  const std::string table_name = qualified_table(conn, schema, "schedule_fires");
  if (fires.empty()) return {};
  nlohmann::json rows = nlohmann::json::array();
  for (const FireRecord& f : fires) {
    rows.push_back({{"schedule", f.schedule},
                    {"fire_time", format_iso8601(f.fire_time)},
                    {"job_id", f.job_id.str()},
                    {"manual", f.manual}});
  }
  pqxx::work tx{conn};
  const auto inserted = tx.exec_params(
      "insert into " + table_name +
          " (schedule, fire_time, job_id, manual)"
          " select r.schedule, r.fire_time, r.job_id, r.manual from jsonb_to_recordset($1::jsonb)"
          " as r(schedule text, fire_time timestamptz, job_id uuid, manual boolean)"
          " on conflict do nothing returning " +
          fire_columns(),
      dump(rows));
  tx.commit();
  // Back to input order; an input repeating an inserted key is returned once.
  std::map<std::pair<std::string, Timestamp>, FireRecord> by_key;
  for (FireRecord& fire : fires_from(inserted)) {
    auto key = std::make_pair(fire.schedule, fire.fire_time);
    by_key.emplace(std::move(key), std::move(fire));
  }
  std::vector<FireRecord> out;
  out.reserve(by_key.size());
  for (const FireRecord& f : fires) {
    auto it = by_key.find(std::make_pair(f.schedule, f.fire_time));
    if (it == by_key.end()) continue;
    out.push_back(std::move(it->second));
    by_key.erase(it);
  }
  return out;
}

void mark_published(pqxx::connection_base& conn, const std::string& schema,
                    std::span<const FireRecord> fires) {
  const std::string table_name = qualified_table(conn, schema, "schedule_fires");
  if (fires.empty()) return;
  nlohmann::json rows = nlohmann::json::array();
  for (const FireRecord& f : fires)
    rows.push_back({{"schedule", f.schedule}, {"fire_time", format_iso8601(f.fire_time)}});
  pqxx::work tx{conn};
  tx.exec_params("update " + table_name +
                     " f set published_at = now() from jsonb_to_recordset($1::jsonb)"
                     " as r(schedule text, fire_time timestamptz)"
                     " where f.schedule = r.schedule and f.fire_time = r.fire_time"
                     " and f.published_at is null",
                 dump(rows));
  tx.commit();
}

std::vector<FireRecord> unpublished_fires(pqxx::connection_base& conn, const std::string& schema,
                                          std::size_t limit, Duration min_age) {
  const std::string table_name = qualified_table(conn, schema, "schedule_fires");
  const std::string schedules = qualified_table(conn, schema, "schedules");
  if (limit == 0) return {};
  const auto capped = static_cast<long long>(std::min<std::size_t>(
      limit, static_cast<std::size_t>(std::numeric_limits<long long>::max())));
  pqxx::read_transaction tx{conn};
  return fires_from(tx.exec_params(
      "select " + fire_columns() + " from " + table_name + " f where f.published_at is null" +
          " and f.recorded_at <= now() - $2::bigint * interval '1 microsecond'"
          " and exists (select 1 from " +
          schedules +
          " s where s.name = f.schedule and s.enabled and s.removed_at is null)"
          " order by f.fire_time, f.schedule limit $1::bigint",
      capped, static_cast<long long>(min_age.count())));
}

bool add_schedule_if_absent(pqxx::connection_base& conn, const std::string& schema,
                            const ScheduleDefinition& definition) {
  const std::string schedules = qualified_table(conn, schema, "schedules");
  pqxx::work tx{conn};
  const pqxx::result inserted =
      tx.exec_params("insert into " + schedules +
                         " (name, definition, enabled) values ($1, $2::jsonb, $3)"
                         " on conflict (name) do nothing returning name",
                     definition.name, definition.definition.dump(), definition.enabled);
  tx.commit();
  return !inserted.empty();
}

std::vector<FireRecord> fires_of(pqxx::connection_base& conn, const std::string& schema,
                                 const std::string& schedule, Timestamp since) {
  const std::string table_name = qualified_table(conn, schema, "schedule_fires");
  pqxx::read_transaction tx{conn};
  return fires_from(tx.exec_params("select " + fire_columns() + " from " + table_name +
                                       " where schedule = $1 and fire_time >= $2::timestamptz"
                                       " order by fire_time",
                                   schedule, format_iso8601(since)));
}

bool try_advisory_lock(pqxx::connection_base& conn, std::int64_t key) {
  // Session-level on purpose: the lock outlives this statement and any transaction.
  pqxx::nontransaction tx{conn};
  return tx.exec_params1("select pg_try_advisory_lock($1::bigint)", key)[0].as<bool>();
}

bool holds_advisory_lock(pqxx::connection_base& conn, std::int64_t key) {
  pqxx::nontransaction tx{conn};
  return tx
      .exec_params1("select exists(select 1 from pg_locks l where l.pid = pg_backend_pid() and " +
                        advisory_key_sql("l") + ")",
                    key)[0]
      .as<bool>();
}

std::optional<LockHolder> advisory_lock_holder(pqxx::connection_base& conn, std::int64_t key) {
  pqxx::nontransaction tx{conn};
  const auto rows =
      tx.exec_params("select l.pid, coalesce(a.application_name, ''), host(a.client_addr), " +
                         utc_text("a.backend_start") +
                         " from pg_locks l left join pg_stat_activity a on a.pid = l.pid where " +
                         advisory_key_sql("l") + " limit 1",
                     key);
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  LockHolder holder;
  holder.backend_pid = row[0].as<int>();
  holder.application_name = row[1].as<std::string>();
  if (!row[2].is_null()) holder.client_addr = row[2].as<std::string>();
  holder.backend_start = time_or_null(row[3], "pg_stat_activity.backend_start");
  return holder;
}

} // namespace celeriac::store
