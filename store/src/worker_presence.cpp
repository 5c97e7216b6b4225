#include "celeriac/store/worker_presence.hpp"

#include <nlohmann/json.hpp>

#include "sql_text.hpp"

namespace celeriac::store {
void upsert_worker(pqxx::connection_base& conn, const std::string& schema,
                   const WorkerRecord& worker) {
  const std::string workers = detail::qualified_table(conn, schema, "workers");
  pqxx::work tx{conn};
  tx.exec_params(
      "insert into " + workers +
          " (hostname, pid, queues, concurrency, started_at, last_heartbeat, processed, failed)"
          " values ($1, $2, array(select jsonb_array_elements_text($3::jsonb)), $4,"
          " $5::timestamptz, now(), $6, $7)"
          " on conflict (hostname, pid) do update set queues = excluded.queues,"
          " concurrency = excluded.concurrency, last_heartbeat = now(),"
          " processed = excluded.processed, failed = excluded.failed",
      worker.hostname, worker.pid, nlohmann::json(worker.queues).dump(), worker.concurrency,
      format_iso8601(worker.started_at), worker.processed, worker.failed);
  tx.commit();
}

void remove_worker(pqxx::connection_base& conn, const std::string& schema,
                   const std::string& hostname, int pid) {
  const std::string workers = detail::qualified_table(conn, schema, "workers");
  pqxx::work tx{conn};
  tx.exec_params("delete from " + workers + " where hostname = $1 and pid = $2", hostname, pid);
  tx.commit();
}

std::vector<RevokedJob> revoked_since(pqxx::connection_base& conn, const std::string& schema,
                                      Timestamp since) {
  const std::string revoked = detail::qualified_table(conn, schema, "revoked");
  pqxx::read_transaction tx{conn};
  const auto rows = tx.exec_params(
      "select id::text, terminate,"
      " to_char(revoked_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') from " +
          revoked +
          " where revoked_at > $1::timestamptz and (expires_at is null or expires_at > now())"
          " order by revoked_at",
      format_iso8601(since));
  std::vector<RevokedJob> out;
  for (const auto& row : rows) {
    const auto id = JobId::parse(row[0].c_str());
    const auto at = parse_iso8601(row[2].c_str());
    if (id && at) out.push_back(RevokedJob{*id, row[1].as<bool>(), *at});
  }
  return out;
}

} // namespace celeriac::store
