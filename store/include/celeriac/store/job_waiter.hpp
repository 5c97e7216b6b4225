// JobWaiter: waits for one job to reach a terminal state (SUCCESS, FAILURE,
// REVOKED) without polling, through the NOTIFY that the jobs table's trigger
// sends on "<schema>_job_done" with the job id (docs/store.md).
//
// Each wait LISTENs first, then reads the row (so a commit between the two
// cannot be missed), then sleeps in await_notification for the time left and
// reads the row again only when a notification names its job. The LISTEN ends
// with the wait, so an idle waiter holds no notifications.
//
// Ownership and threading: a JobWaiter owns its own database connection and is
// used by one thread at a time; it can wait again after a wait returns (a
// client keeps idle ones in a pool).
// Errors: the constructor throws InvalidInput for a bad schema name and
// InfrastructureError when the database cannot be reached (the URL's password
// never appears); a connection lost during a wait throws InfrastructureError.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "celeriac/core/job_id.hpp"
#include "celeriac/store/job_records.hpp"

namespace celeriac::store {

class JobWaiter {
 public:
  JobWaiter(const std::string& database_url, std::string schema);
  ~JobWaiter();
  JobWaiter(const JobWaiter&) = delete;
  JobWaiter& operator=(const JobWaiter&) = delete;

  // The job's record once it is terminal, or nullopt if DEADLINE passed first
  // (whether or not the job has a record at all).
  std::optional<JobRecord> wait(JobId id, std::chrono::steady_clock::time_point deadline);

  // The last record seen by the latest wait (nullopt: no row), for timeout messages.
  const std::optional<JobRecord>& last_seen() const { return last_seen_; }

 private:
  struct Listener;
  std::unique_ptr<pqxx::connection> conn_;
  std::string schema_;
  std::optional<JobRecord> last_seen_;
};

// "<schema>_job_done": the channel the trigger notifies on.
std::string job_done_channel(const std::string& schema);

// The application_name of a waiter's connection in pg_stat_activity
// (PostgreSQL truncates it to 63 bytes).
std::string waiter_application_name(const std::string& schema);

} // namespace celeriac::store
