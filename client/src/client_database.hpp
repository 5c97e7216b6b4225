// ClientDatabase: the client's PostgreSQL side. One connection for short
// queries and writes, guarded by a mutex and opened on first use; and a pool
// of JobWaiter connections, one per concurrent wait.
//
// Threading: every method may be called from any thread.
// Errors: database failures become InfrastructureError naming the database
// (password redacted) and what was being done; a query on a connection that
// turns out to be broken is retried once on a new one (every query here is
// idempotent: reads, the monotonic upsert, the revoke upsert).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/core/job.hpp"
#include "celeriac/store/job_records.hpp"
#include "celeriac/store/job_waiter.hpp"

namespace celeriac::client_detail {

// application_name of the shared connection in pg_stat_activity.
std::string client_application_name(const std::string& schema);

class ClientDatabase {
 public:
  // URL is a libpq URI; CONNECT_TIMEOUT bounds each connection attempt.
  ClientDatabase(const std::string& url, std::string schema,
                 std::chrono::milliseconds connect_timeout);

  // Opens the shared connection now (instead of on first use).
  void connect();
  // PENDING rows for JOBS, in one apply_changes statement.
  void write_pending(std::span<const Job> jobs, Timestamp enqueued_at);
  std::optional<store::JobRecord> find(JobId id);
  store::RevokeResult revoke(JobId id, const store::RevokeRequest& request);
  // The terminal record, or nullopt at DEADLINE; LAST_SEEN gets the latest record read.
  std::optional<store::JobRecord> wait(JobId id, std::chrono::steady_clock::time_point deadline,
                                       std::optional<store::JobRecord>& last_seen);

 private:
  std::unique_ptr<pqxx::connection> open_connection() const;
  void with_connection(const char* what, const std::function<void(pqxx::connection&)>& work);
  // An idle waiter (second: true) or a new one (false).
  std::pair<std::unique_ptr<store::JobWaiter>, bool> take_waiter();
  void give_back(std::unique_ptr<store::JobWaiter> waiter);

  std::string url_;
  std::string schema_;

  std::mutex mutex_; // guards conn_ and every use of it
  std::unique_ptr<pqxx::connection> conn_;

  std::mutex pool_mutex_; // guards idle_
  std::vector<std::unique_ptr<store::JobWaiter>> idle_;
};

} // namespace celeriac::client_detail
