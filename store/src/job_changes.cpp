// apply_changes(): a batch of job state changes as one multi-row upsert. The
// batch travels as a single json parameter expanded by json_to_recordset, so
// a batch of any size is one round trip and no value is ever spliced into SQL.
#include "celeriac/store/job_changes.hpp"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "celeriac/core/json_text.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::store {
namespace {

// The order that makes records monotonic: terminal states last, then the
// attempt (retries), then the step within an attempt.
std::int64_t rank(JobState state, int retries) {
  if (is_terminal(state)) return std::numeric_limits<std::int64_t>::max();
  const int step = state == JobState::Pending    ? 0
                   : state == JobState::Received ? 1
                   : state == JobState::Started  ? 2
                                                 : 3;
  return std::int64_t{retries} * 4 + step;
}

// The same order in SQL, for a row alias (the stored row or `excluded`).
std::string rank_sql(std::string_view row) {
  return fmt::format(
      "(case when {0}.state in ('SUCCESS', 'FAILURE', 'REVOKED') then 9223372036854775807"
      " else {0}.retries::bigint * 4 + case {0}.state when 'PENDING' then 0"
      " when 'RECEIVED' then 1 when 'STARTED' then 2 else 3 end end)",
      row);
}

// One job's changes in this batch, merged.
struct Merged {
  const JobChange* top = nullptr; // the most advanced change (the first among equals)
  const Job* job = nullptr;       // the description of the most advanced change having one
  std::int64_t job_rank = -1;
  int retries = 0;
  std::optional<int> max_retries;
  int deliveries = 0;
  std::optional<std::string> worker;
  std::optional<Timestamp> enqueued_at, received_at, started_at;
};

void merge(Merged& m, const JobChange& c) {
  const std::int64_t r = rank(c.state, c.retries);
  if (m.top == nullptr || r > rank(m.top->state, m.top->retries)) m.top = &c;
  if (c.job && r > m.job_rank) {
    m.job = &*c.job;
    m.job_rank = r;
  }
  m.retries = std::max(m.retries, c.retries);
  if (c.max_retries) m.max_retries = c.max_retries;
  if (c.worker && (!m.worker || m.top == &c)) m.worker = c.worker;
  auto later = [](std::optional<Timestamp>& slot, Timestamp at) {
    if (!slot || at > *slot) slot = at;
  };
  if (c.received_at && c.state != JobState::Received) {
    ++m.deliveries;
    later(m.received_at, *c.received_at);
  }
  switch (c.state) {
    case JobState::Pending:
      if (!m.enqueued_at || c.at < *m.enqueued_at) m.enqueued_at = c.at;
      break;
    case JobState::Received:
      ++m.deliveries;
      later(m.received_at, c.at);
      break;
    case JobState::Started:
      later(m.started_at, c.at);
      break;
    default:
      break;
  }
}

// A time goes as microseconds since the epoch, which the statement turns
// into a timestamptz with integer arithmetic (at_sql): parsing ISO 8601 text
// cost PostgreSQL about ten times as much per time, and the writer its
// formatting.
void put_time(JsonMembers& row, std::string_view key, const std::optional<Timestamp>& value) {
  if (value) row.number(key, value->time_since_epoch().count());
}

void put_description(JsonMembers& row, const Job& job) {
  row.text("task", job.task);
  row.text("queue", job.queue);
  row.number("priority", job.priority);
  row.json("args", job.args);
  row.json("kwargs", job.kwargs);
  row.id("parent_id", job.parent_id);
  row.id("root_id", job.root_id);
  row.text("group_id", job.group);
  put_time(row, "eta", job.eta);
  put_time(row, "expires", job.expires);
}

void put_row(JsonMembers& row, const Merged& m) {
  const JobChange& top = *m.top;
  row.text("id", top.id.str());
  row.text("state", to_string(top.state));
  row.number("retries", m.retries);
  row.number("deliveries", m.deliveries);
  row.number("max_retries", m.max_retries);
  row.text("worker", m.worker);
  if (top.result) row.json("result", *top.result);
  put_time(row, "enqueued_at", m.enqueued_at);
  put_time(row, "received_at", m.received_at);
  put_time(row, "started_at", m.started_at);
  if (is_terminal(top.state)) put_time(row, "finished_at", top.at);
  if (top.error) {
    row.text("error_type", top.error->type);
    row.text("error_message", top.error->message);
    row.text("error_stack", top.error->stack);
  }
  if (m.job != nullptr) put_description(row, *m.job);
}

// The timestamptz of COLUMN, microseconds since the epoch: whole seconds
// (exact in the float to_timestamp takes) plus the rest as an interval.
// Exact for every time PostgreSQL can hold, before 1970 too.
std::string at_sql(std::string_view column) {
  return fmt::format("to_timestamp({0} / 1000000) + ({0} % 1000000) * interval '1 microsecond'",
                     column);
}

// The statement, per schema. `excluded` is the incoming (merged) change; it
// carries a description exactly when excluded.task is not null.
std::string upsert_sql(const std::string& q, bool returning) {
  const std::string adv = rank_sql("excluded") + " > " + rank_sql("j");
  auto described = [&](std::string_view col) {
    return fmt::format(
        "{0} = case when excluded.task is not null and (j.task is null or {1})"
        " then excluded.{0} else j.{0} end",
        col, adv);
  };
  auto error = [&](std::string_view col) {
    return fmt::format(
        "{0} = case when not ({1}) then j.{0} when excluded.state = 'SUCCESS'"
        " then null when excluded.error_type is not null then excluded.{0}"
        " else j.{0} end",
        col, adv);
  };
  std::string set = fmt::format("state = case when {0} then excluded.state else j.state end", adv);
  for (const char* col : {"task", "queue", "priority", "args", "kwargs", "parent_id", "root_id",
                          "group_id", "eta", "expires"}) {
    set += ", " + described(col);
  }
  for (const char* col : {"error_type", "error_message", "error_stack"})
    set += ", " + error(col);
  set += fmt::format(
      ", result = case when {0} then excluded.result else j.result end"
      ", worker = case when {0} then coalesce(excluded.worker, j.worker)"
      " else coalesce(j.worker, excluded.worker) end"
      ", finished_at = case when {0} then coalesce(excluded.finished_at, j.finished_at)"
      " else j.finished_at end",
      adv);
  set +=
      ", retries = greatest(j.retries, excluded.retries)"
      ", max_retries = coalesce(excluded.max_retries, j.max_retries)"
      ", deliveries = j.deliveries + excluded.deliveries"
      ", enqueued_at = least(j.enqueued_at, excluded.enqueued_at)"
      ", received_at = greatest(j.received_at, excluded.received_at)"
      ", started_at = greatest(j.started_at, excluded.started_at)"
      ", updated_at = now()";
  return "insert into " + q +
         ".jobs as j (id, task, queue, priority, state, args, kwargs, result, error_type,"
         " error_message, error_stack, retries, max_retries, deliveries, worker, parent_id,"
         " root_id, group_id, eta, expires, enqueued_at, received_at, started_at, finished_at)"
         " select c.id, c.task, c.queue, coalesce(c.priority, 0), c.state,"
         " coalesce(c.args, '[]'), coalesce(c.kwargs, '{}'), c.result, c.error_type,"
         " c.error_message, c.error_stack, c.retries, c.max_retries, c.deliveries, c.worker,"
         " c.parent_id, c.root_id, c.group_id, " +
         at_sql("c.eta") + ", " + at_sql("c.expires") + ", " + at_sql("c.enqueued_at") + ", " +
         at_sql("c.received_at") + ", " + at_sql("c.started_at") + ", " + at_sql("c.finished_at") +
         " from json_to_recordset($1::json) as c(id uuid, task text, queue text,"
         " priority smallint, state text, args jsonb, kwargs jsonb, result jsonb,"
         " error_type text, error_message text, error_stack text, retries int, max_retries int,"
         " deliveries int, worker text, parent_id uuid, root_id uuid, group_id text,"
         " eta bigint, expires bigint, enqueued_at bigint, received_at bigint,"
         " started_at bigint, finished_at bigint)"
         " on conflict (id) do update set " +
         set + (returning ? " returning id, deliveries" : "");
}

// The statement's text, built once per schema: every batch names it, but a
// connection sends it to the server only the first time it runs it.
const std::string& upsert_text(const std::string& quoted_schema, bool returning) {
  static std::mutex mutex;
  // Never erased: references stay valid.
  static std::map<std::pair<std::string, bool>, std::string> texts;
  std::lock_guard lock(mutex);
  const auto [it, added] = texts.try_emplace({quoted_schema, returning});
  if (added) it->second = upsert_sql(quoted_schema, returning);
  return it->second;
}

} // namespace

JobChange job_change(const JobId& id, JobState state, Timestamp at, int retries) {
  JobChange change;
  change.id = id;
  change.state = state;
  change.at = at;
  change.retries = retries;
  return change;
}

JobChange pending_change(const Job& job, Timestamp enqueued_at) {
  JobChange change = job_change(job.id, JobState::Pending, enqueued_at, job.retries);
  change.job = job;
  return change;
}

JobChange received_change(const Job& job, Timestamp at, std::string worker) {
  JobChange change = job_change(job.id, JobState::Received, at, job.retries);
  change.job = job;
  change.worker = std::move(worker);
  return change;
}

DeliveryCounts apply_changes(pqxx::transaction_base& txn, const std::string& schema,
                             std::span<const JobChange> changes) {
  validate_schema_name(schema);
  DeliveryCounts counts;
  if (changes.empty()) return counts;
  std::map<JobId, Merged> merged;
  for (const JobChange& change : changes)
    merge(merged[change.id], change);
  // The batch as the JSON text of an array of row objects, written straight
  // into one buffer: a DOM of maps per row cost the writer thread more than
  // the rest of a batch did. Keys without a value are left out (the
  // recordset reads a missing key as null), which spares PostgreSQL parsing
  // them too.
  std::string rows = "[";
  for (const auto& [id, m] : merged) {
    rows += rows.size() == 1 ? "{" : ",{";
    JsonMembers row(rows);
    put_row(row, m);
    rows += '}';
  }
  rows += ']';
  // Prepared once per connection and schema: the statement is long, and
  // parsing and planning it again for every batch cost PostgreSQL more than
  // a small batch's rows. (libpqxx registers it with the server on first
  // use, and again on a new connection; the same definition twice is a no-op.)
  //
  // Only a RECEIVED change's writer needs the count back (a redelivery checks
  // max_redeliveries with it), so a batch without one returns no rows: that
  // spares PostgreSQL a result row per job and the writer parsing it.
  const bool counted = std::any_of(changes.begin(), changes.end(), [](const JobChange& c) {
    return c.state == JobState::Received;
  });
  const std::string statement =
      "celeriac_apply_changes." + schema + (counted ? ".counted" : ".quiet");
  txn.conn().prepare(statement, upsert_text(txn.quote_name(schema), counted));
  const pqxx::result written = txn.exec_prepared(statement, rows);
  for (const auto& row : written) {
    if (const auto id = JobId::parse(row[0].c_str())) counts[*id] = row[1].as<int>();
  }
  return counts;
}

} // namespace celeriac::store
