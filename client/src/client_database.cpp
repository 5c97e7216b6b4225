#include "client_database.hpp"

#include "celeriac/store/database_url.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "celeriac/core/config.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/store/job_changes.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::client_detail {
namespace {

// Idle waiter connections kept for the next waits; more are closed.
constexpr std::size_t kMaxIdleWaiters = 4;

} // namespace

std::string client_application_name(const std::string& schema) {
  return "celeriac client " + schema;
}

ClientDatabase::ClientDatabase(const std::string& url, std::string schema,
                               std::chrono::milliseconds connect_timeout)
    : url_(store::with_connect_timeout(url, connect_timeout)), schema_(std::move(schema)) {
  store::validate_schema_name(schema_);
}

void ClientDatabase::connect() {
  with_connection("connecting", [](pqxx::connection&) {});
}

void ClientDatabase::with_connection(const char* what,
                                     const std::function<void(pqxx::connection&)>& work) {
  std::lock_guard lock(mutex_);
  for (int attempt = 0;; ++attempt) {
    try {
      if (!conn_) conn_ = open_connection();
      work(*conn_);
      return;
    } catch (const pqxx::broken_connection& e) {
      conn_.reset();
      if (attempt == 0) continue; // the server may have restarted since the last use
      throw InfrastructureError(
          fmt::format("database {} unreachable while {}: {}", redact_url(url_), what, e.what()));
    } catch (const pqxx::in_doubt_error& e) { // lost during COMMIT; every call here is idempotent
      conn_.reset();
      if (attempt == 0) continue;
      throw InfrastructureError(
          fmt::format("database connection lost while {}: {}", what, e.what()));
    } catch (const pqxx::undefined_table& e) {
      throw InfrastructureError(
          fmt::format("database schema '{}' is not migrated (run `celeriac"
                      " migrate`) while {}: {}",
                      schema_, what, e.what()));
    } catch (const pqxx::failure& e) { // sql_error and the rest of libpqxx's runtime errors
      throw InfrastructureError(fmt::format("database error while {}: {}", what, e.what()));
    }
  }
}

std::unique_ptr<pqxx::connection> ClientDatabase::open_connection() const {
  auto conn = std::make_unique<pqxx::connection>(url_);
  // Names the connection in pg_stat_activity, for operators (and tests).
  pqxx::nontransaction tx{*conn};
  tx.exec0("set application_name = " + tx.quote(client_application_name(schema_)));
  return conn;
}

void ClientDatabase::write_pending(std::span<const Job> jobs, Timestamp enqueued_at) {
  std::vector<store::JobChange> changes;
  changes.reserve(jobs.size());
  for (const Job& job : jobs)
    changes.push_back(store::pending_change(job, enqueued_at));
  with_connection("writing PENDING rows", [&](pqxx::connection& conn) {
    pqxx::work tx{conn};
    store::apply_changes(tx, schema_, changes);
    tx.commit();
  });
}

std::optional<store::JobRecord> ClientDatabase::find(JobId id) {
  std::optional<store::JobRecord> record;
  with_connection("reading a job",
                  [&](pqxx::connection& conn) { record = store::find_job(conn, schema_, id); });
  return record;
}

store::RevokeResult ClientDatabase::revoke(JobId id, const store::RevokeRequest& request) {
  store::RevokeResult result;
  with_connection("revoking a job", [&](pqxx::connection& conn) {
    result = store::revoke_job(conn, schema_, id, request);
  });
  return result;
}

std::optional<store::JobRecord> ClientDatabase::wait(JobId id,
                                                     std::chrono::steady_clock::time_point deadline,
                                                     std::optional<store::JobRecord>& last_seen) {
  for (int attempt = 0;; ++attempt) {
    auto [waiter, pooled] = take_waiter();
    std::optional<store::JobRecord> record;
    try {
      record = waiter->wait(id, deadline);
    } catch (const InfrastructureError&) {
      if (pooled && attempt == 0) continue; // an idle connection the server closed
      throw;
    } catch (const pqxx::failure& e) {
      throw InfrastructureError(fmt::format("database error while waiting: {}", e.what()));
    } // either way the waiter, and its connection, are dropped
    last_seen = waiter->last_seen();
    give_back(std::move(waiter));
    return record;
  }
}

std::pair<std::unique_ptr<store::JobWaiter>, bool> ClientDatabase::take_waiter() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!idle_.empty()) {
      auto waiter = std::move(idle_.back());
      idle_.pop_back();
      return {std::move(waiter), true};
    }
  }
  return {std::make_unique<store::JobWaiter>(url_, schema_), false}; // connects outside the lock
}

void ClientDatabase::give_back(std::unique_ptr<store::JobWaiter> waiter) {
  std::lock_guard lock(pool_mutex_);
  if (idle_.size() < kMaxIdleWaiters) idle_.push_back(std::move(waiter));
}

} // namespace celeriac::client_detail
