// Reading job rows and the revoke / expiry / worker queries of
// job_records.hpp. Timestamps travel as ISO-8601 text in UTC both ways, so
// neither the session's time zone nor floating-point epochs can shift them.
#include "celeriac/store/job_records.hpp"

#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "celeriac/store/migrations.hpp"
#include "sql_text.hpp"

namespace celeriac::store {
namespace {

using detail::utc_text;

// A timestamptz column as itself, in utc_text.
std::string utc_column(std::string_view column) {
  return fmt::format("{} as {}", utc_text(column), column);
}

std::string job_columns() {
  std::string columns =
      "id::text as id, task, queue, priority, state, args::text as args, kwargs::text as kwargs,"
      " result::text as result, error_type, error_message, error_stack, retries, max_retries,"
      " deliveries, worker, parent_id::text as parent_id, root_id::text as root_id, group_id,"
      " unique_key";
  for (const char* column : {"eta", "expires", "enqueued_at", "received_at", "started_at",
                             "finished_at", "updated_at"}) {
    columns += ", " + utc_column(column);
  }
  return columns;
}

std::optional<std::string> text_or_null(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<std::string>();
}

std::optional<Timestamp> time_or_null(const pqxx::field& field) {
  return detail::time_or_null(field, fmt::format("jobs.{}", field.name()));
}

std::optional<JobId> id_or_null(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return JobId::parse(field.c_str());
}

JobState state_of(const pqxx::field& field) {
  auto state = parse_job_state(field.c_str());
  if (!state)
    throw InfrastructureError(fmt::format("jobs.state: unknown state '{}'", field.c_str()));
  return *state;
}

JobRecord record_from_row(const pqxx::row& row) {
  JobRecord job;
  job.id = JobId::parse(row["id"].c_str()).value_or(JobId{});
  job.task = text_or_null(row["task"]);
  job.queue = text_or_null(row["queue"]);
  job.priority = row["priority"].as<int>();
  job.state = state_of(row["state"]);
  job.args = nlohmann::json::parse(row["args"].c_str());
  job.kwargs = nlohmann::json::parse(row["kwargs"].c_str());
  if (!row["result"].is_null()) job.result = nlohmann::json::parse(row["result"].c_str());
  if (!row["error_type"].is_null()) {
    job.error = JobError{row["error_type"].as<std::string>(),
                         row["error_message"].as<std::string>(std::string()),
                         row["error_stack"].as<std::string>(std::string())};
  }
  job.retries = row["retries"].as<int>();
  job.max_retries = row["max_retries"].is_null() ? std::nullopt
                                                 : std::optional<int>(row["max_retries"].as<int>());
  job.deliveries = row["deliveries"].as<int>();
  job.worker = text_or_null(row["worker"]);
  job.parent_id = id_or_null(row["parent_id"]);
  job.root_id = id_or_null(row["root_id"]);
  job.group = text_or_null(row["group_id"]);
  job.unique_key = text_or_null(row["unique_key"]);
  job.eta = time_or_null(row["eta"]);
  job.expires = time_or_null(row["expires"]);
  job.enqueued_at = time_or_null(row["enqueued_at"]);
  job.received_at = time_or_null(row["received_at"]);
  job.started_at = time_or_null(row["started_at"]);
  job.finished_at = time_or_null(row["finished_at"]);
  job.updated_at = time_or_null(row["updated_at"]).value_or(Timestamp{});
  return job;
}

std::string quoted_schema(pqxx::connection_base& conn, const std::string& schema) {
  validate_schema_name(schema);
  return conn.quote_name(schema);
}

} // namespace

std::optional<JobRecord> find_job(pqxx::connection_base& conn, const std::string& schema,
                                  JobId id) {
  const std::string jobs = quoted_schema(conn, schema) + ".jobs";
  pqxx::read_transaction tx{conn};
  const auto rows = tx.exec_params(
      "select " + job_columns() + " from " + jobs + " where id = $1::uuid", id.str());
  if (rows.empty()) return std::nullopt;
  return record_from_row(rows[0]);
}

std::int64_t expire_results(pqxx::connection_base& conn, const std::string& schema,
                            Timestamp cutoff, int batch_size) {
  if (batch_size <= 0) {
    throw InvalidInput("batch_size", fmt::format("must be positive, got {}", batch_size));
  }
  const std::string jobs = quoted_schema(conn, schema) + ".jobs";
  // The inner predicate repeats jobs_finished_at_idx's, so the planner walks
  // that index oldest first; skip locked leaves rows a writer holds for the next run.
  const std::string sql =
      "delete from " + jobs + " where id in (select id from " + jobs +
      " where state in ('SUCCESS', 'FAILURE', 'REVOKED') and finished_at < $1::timestamptz"
      " order by finished_at limit $2 for update skip locked)";
  const std::string cutoff_text = format_iso8601(cutoff);
  std::int64_t deleted = 0;
  for (;;) {
    pqxx::work tx{conn};
    const auto affected = tx.exec_params(sql, cutoff_text, batch_size).affected_rows();
    tx.commit();
    deleted += static_cast<std::int64_t>(affected);
    if (affected < static_cast<std::size_t>(batch_size)) return deleted;
  }
}

std::vector<WorkerRecord> list_workers(pqxx::connection_base& conn, const std::string& schema) {
  const std::string workers = quoted_schema(conn, schema) + ".workers";
  pqxx::read_transaction tx{conn};
  const auto rows = tx.exec(
      "select hostname, pid, array_to_json(queues)::text as queues,"
      " concurrency, processed, failed, " +
      utc_column("started_at") + ", " + utc_column("last_heartbeat") + " from " + workers +
      " order by last_heartbeat desc, hostname, pid");
  std::vector<WorkerRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    WorkerRecord worker;
    worker.hostname = row["hostname"].as<std::string>();
    worker.pid = row["pid"].as<int>();
    worker.queues = nlohmann::json::parse(row["queues"].c_str()).get<std::vector<std::string>>();
    worker.concurrency = row["concurrency"].as<int>();
    worker.processed = row["processed"].as<std::int64_t>();
    worker.failed = row["failed"].as<std::int64_t>();
    worker.started_at = time_or_null(row["started_at"]).value_or(Timestamp{});
    worker.last_heartbeat = time_or_null(row["last_heartbeat"]).value_or(Timestamp{});
    out.push_back(std::move(worker));
  }
  return out;
}

} // namespace celeriac::store
