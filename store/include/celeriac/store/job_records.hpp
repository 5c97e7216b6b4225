// Reading job records, revoking jobs, expiring results and listing workers
// (docs/store.md "jobs", "revoked", "workers").
//
// Threading: plain functions on the caller's connection, which must have no
// transaction open; each function runs its own short transaction(s). One
// connection per thread, as libpqxx requires.
// Errors: a bad schema name throws InvalidInput before any SQL is sent; other
// bad arguments throw InvalidInput naming them; database failures propagate as
// pqxx exceptions (pqxx::broken_connection, pqxx::sql_error), for the caller
// to retry or wrap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "celeriac/core/job_id.hpp"
#include "celeriac/core/job_state.hpp"
#include "celeriac/core/time.hpp"
#include "celeriac/store/job_changes.hpp"

namespace celeriac::store {

// One row of <schema>.jobs, typed. Null columns are empty optionals.
struct JobRecord {
  JobId id;
  std::optional<std::string> task; // null only when a message named none
  std::optional<std::string> queue;
  int priority = 0;
  JobState state = JobState::Pending;
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kwargs = nlohmann::json::object();
  std::optional<nlohmann::json> result; // SUCCESS: the return value (may be JSON null)
  std::optional<JobError> error;        // set when error_type is not null
  int retries = 0;
  std::optional<int> max_retries;
  int deliveries = 0;
  std::optional<std::string> worker;
  std::optional<JobId> parent_id;
  std::optional<JobId> root_id;
  std::optional<std::string> group;
  std::optional<Timestamp> eta;
  std::optional<Timestamp> expires;
  std::optional<Timestamp> enqueued_at;
  std::optional<Timestamp> received_at;
  std::optional<Timestamp> started_at;
  std::optional<Timestamp> finished_at;
  Timestamp updated_at;
  std::optional<std::string> unique_key;

  bool operator==(const JobRecord&) const = default;
};

// The record of job ID, or nullopt when the table has no such row.
std::optional<JobRecord> find_job(pqxx::connection_base& conn, const std::string& schema, JobId id);

// What revoke_job did to the job's record.
enum class RevokeEffect {
  Revoked,         // the job was PENDING/RECEIVED/STARTED/RETRY and is now REVOKED
  AlreadyFinished, // the job had already reached SUCCESS, FAILURE or REVOKED: left as it was
  NotTracked,      // no record yet (e.g. enqueued without track_pending): only `revoked` has it
};

struct RevokeResult {
  RevokeEffect effect = RevokeEffect::NotTracked;
  std::optional<JobState> previous_state; // the state before revoking; nullopt when NotTracked
};

std::string_view to_string(RevokeEffect effect);

struct RevokeRequest {
  std::string reason = "revoked";      // kept in revoked.reason and the job's error_message
  bool terminate = false;              // ask workers to kill the job if it is running
  std::optional<Timestamp> expires_at; // when workers may forget the revoke; nullopt: never
  Timestamp now;                       // revoked_at, and the REVOKED change's time
};

// In one transaction: records ID in <schema>.revoked (an upsert: revoking
// twice updates reason, terminate and expires_at) and, when the job has a
// non-terminal record, writes a REVOKED change through apply_changes(), whose
// trigger wakes waiters at commit. The job row is locked while deciding, so a
// worker's concurrent SUCCESS either lands first (AlreadyFinished) or is kept
// out by the monotonic upsert.
RevokeResult revoke_job(pqxx::connection_base& conn, const std::string& schema, JobId id,
                        const RevokeRequest& request);

// Deletes jobs that finished (SUCCESS, FAILURE, REVOKED) before CUTOFF, oldest
// first, BATCH_SIZE rows per transaction through jobs_finished_at_idx, until
// a batch comes back short. Each batch is its own short transaction, so no lock
// is held for long and concurrent writers only ever wait for one batch.
// Unfinished jobs are never deleted, whatever their age. Returns the number of
// rows deleted. BATCH_SIZE must be positive (InvalidInput otherwise).
std::int64_t expire_results(pqxx::connection_base& conn, const std::string& schema,
                            Timestamp cutoff, int batch_size = 1000);

// One row of <schema>.workers.
struct WorkerRecord {
  std::string hostname;
  int pid = 0;
  std::vector<std::string> queues;
  int concurrency = 0;
  Timestamp started_at;
  Timestamp last_heartbeat;
  std::int64_t processed = 0;
  std::int64_t failed = 0;

  bool operator==(const WorkerRecord&) const = default;
};

// Every worker row, most recent heartbeat first. Callers decide which are
// alive by comparing last_heartbeat with their own clock.
std::vector<WorkerRecord> list_workers(pqxx::connection_base& conn, const std::string& schema);

} // namespace celeriac::store
