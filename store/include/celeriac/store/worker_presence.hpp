// What a running worker keeps in the store besides job state: its row in
// `workers` (its heartbeat, for `celeriac inspect workers`) and the revoked
// job ids it must honour (docs/store.md "workers", "revoked").
//
// Threading: plain functions on the caller's connection; one thread per connection.
#pragma once

#include <span>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"
#include "celeriac/store/job_records.hpp"

namespace celeriac::store {

// Inserts or refreshes WORKER's row (key: hostname, pid); last_heartbeat is
// the database's now(), so liveness is judged on one clock.
void upsert_worker(pqxx::connection_base& conn, const std::string& schema,
                   const WorkerRecord& worker);

// Removes a worker's row: it has shut down.
void remove_worker(pqxx::connection_base& conn, const std::string& schema,
                   const std::string& hostname, int pid);

struct RevokedJob {
  JobId id;
  bool terminate = false;
  Timestamp revoked_at;
};

// The revokes still in force that were recorded after SINCE (all of them
// when SINCE is the epoch), oldest first.
std::vector<RevokedJob> revoked_since(pqxx::connection_base& conn, const std::string& schema,
                                      Timestamp since);

} // namespace celeriac::store
