// Job state changes and how they reach the jobs table (docs/store.md
// "Writing job state").
//
// A JobChange says "job ID entered STATE at AT", with what is known at that
// step. apply_changes() writes a batch of them in one statement (one round
// trip), and keeps every record monotonic: changes are ordered by
// (terminal, retries, step) where step is PENDING < RECEIVED < STARTED < RETRY,
// and a change that does not advance a job past its recorded state never moves
// its state back. So a stale RECEIVED or STARTED never overwrites SUCCESS,
// FAILURE or REVOKED, batches may arrive in any order, and applying a batch
// twice (a commit whose acknowledgement was lost) leaves the same record,
// except that `deliveries` counts the deliveries it was given (RECEIVED
// changes, and changes carrying received_at).
//
// Threading: plain functions on the caller's transaction.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "celeriac/core/job.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/job_state.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac::store {

struct JobError {
  std::string type; // "ValueError", "TimeLimitExceeded", "WorkerLost", ...
  std::string message;
  std::string stack; // may be empty

  bool operator==(const JobError&) const = default;
};

struct JobChange {
  JobId id;
  JobState state = JobState::Pending;
  Timestamp at; // when the job entered STATE: enqueued_at, received_at, ...

  // The job's description (task, queue, args, ...). Carried by the change that
  // first records a job (PENDING from the client; from a worker, STARTED with
  // received_at, or RECEIVED for a redelivery);
  // optional elsewhere. The record keeps the latest description it was given.
  std::optional<Job> job;

  int retries = 0;                      // the retries count of the message this change is about
  std::optional<int> max_retries;       // the task's limit, when known
  std::optional<std::string> worker;    // "hostname:pid" of the worker that took it
  std::optional<nlohmann::json> result; // SUCCESS: the task's return value
  std::optional<JobError> error;        // FAILURE, RETRY, REVOKED: why
  // A change past RECEIVED that records the delivery too (a worker starting a
  // job it just took): counted as a RECEIVED change at this time would be.
  std::optional<Timestamp> received_at;

  bool operator==(const JobChange&) const = default;
};

// Constructors for the common steps (aggregate initialization would have to
// name every field).
JobChange job_change(const JobId& id, JobState state, Timestamp at, int retries = 0);
JobChange pending_change(const Job& job, Timestamp enqueued_at);
JobChange received_change(const Job& job, Timestamp at, std::string worker);

// Each job's `deliveries` after a batch: how many deliveries its record
// has counted. A worker tells redeliveries from it (docs/store.md). Only a
// batch that holds a RECEIVED change reports them (for every job it touched);
// the others report none.
using DeliveryCounts = std::map<JobId, int>;

// Writes CHANGES in one statement within TXN (a transaction, or a
// nontransaction: the statement is atomic by itself) and returns the deliveries of
// every job they touched if they hold a RECEIVED change (none otherwise). Several changes of one
// job in the same batch are merged first (the most advanced state wins; each step's timestamp is
// kept). Throws pqxx errors as they come (the caller decides whether to retry); InvalidInput if
// SCHEMA is not a valid schema name.
DeliveryCounts apply_changes(pqxx::transaction_base& txn, const std::string& schema,
                             std::span<const JobChange> changes);

} // namespace celeriac::store
