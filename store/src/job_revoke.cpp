// revoke_job (job_records.hpp): the revoked row and the job's REVOKED change
// in one transaction. Kept apart from the read-only queries so that programs
// which only read records do not link the StoreWriter's apply_changes().
#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "celeriac/store/job_records.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::store {
namespace {

// Locks the job's row (if any) for the rest of TX and returns its state.
std::optional<JobState> lock_job_state(pqxx::work& tx, const std::string& jobs, JobId id) {
  const auto rows =
      tx.exec_params("select state from " + jobs + " where id = $1::uuid for update", id.str());
  if (rows.empty()) return std::nullopt;
  const auto state = parse_job_state(rows[0][0].c_str());
  if (!state) {
    throw InfrastructureError(fmt::format("jobs.state: unknown state '{}'", rows[0][0].c_str()));
  }
  return state;
}

void record_revoke(pqxx::work& tx, const std::string& revoked, JobId id,
                   const RevokeRequest& request) {
  const std::string expires = request.expires_at ? format_iso8601(*request.expires_at) : "";
  tx.exec_params("insert into " + revoked +
                     " (id, revoked_at, expires_at, terminate, reason)"
                     " values ($1::uuid, $2::timestamptz, nullif($3, '')::timestamptz, $4, $5)"
                     " on conflict (id) do update set expires_at = excluded.expires_at,"
                     " terminate = excluded.terminate, reason = excluded.reason",
                 id.str(), format_iso8601(request.now), expires, request.terminate, request.reason);
}

JobChange revoked_change(JobId id, const RevokeRequest& request) {
  JobChange change;
  change.id = id;
  change.state = JobState::Revoked;
  change.at = request.now;
  // Celery's name for it, so tools that read Celery results recognise it.
  change.error = JobError{"TaskRevokedError", request.reason, ""};
  return change;
}

} // namespace

std::string_view to_string(RevokeEffect effect) {
  switch (effect) {
    case RevokeEffect::Revoked:
      return "revoked";
    case RevokeEffect::AlreadyFinished:
      return "already finished";
    case RevokeEffect::NotTracked:
      return "not tracked";
  }
  return "unknown";
}

RevokeResult revoke_job(pqxx::connection_base& conn, const std::string& schema, JobId id,
                        const RevokeRequest& request) {
  validate_schema_name(schema);
  const std::string quoted = conn.quote_name(schema);
  pqxx::work tx{conn};
  RevokeResult result;
  result.previous_state = lock_job_state(tx, quoted + ".jobs", id);
  record_revoke(tx, quoted + ".revoked", id, request);
  if (!result.previous_state) {
    result.effect = RevokeEffect::NotTracked;
  } else if (is_terminal(*result.previous_state)) {
    result.effect = RevokeEffect::AlreadyFinished;
  } else {
    const JobChange change = revoked_change(id, request);
    apply_changes(tx, schema, std::span<const JobChange>(&change, 1));
    result.effect = RevokeEffect::Revoked;
  }
  tx.commit();
  return result;
}

} // namespace celeriac::store
