// JobWaiter (job_waiter.hpp): LISTEN, read, then sleep in the connection's
// socket until the trigger's NOTIFY names the job or the deadline passes.
#include "celeriac/store/job_waiter.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "celeriac/core/config.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/store/database_url.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::store {
namespace {

// One await_notification at most this long, so that a far deadline never
// overflows the socket wait's timeout arithmetic.
constexpr std::chrono::microseconds kLongestSleep = std::chrono::hours(1);

} // namespace
// Registered for the duration of one wait: its constructor LISTENs, its
// destructor UNLISTENs, and it remembers whether its job was named.
struct JobWaiter::Listener final : pqxx::notification_receiver {
  Listener(pqxx::connection_base& conn, const std::string& channel, std::string job)
      : pqxx::notification_receiver(conn, channel), job_id(std::move(job)) {}

  void operator()(const std::string& payload, int) override {
    if (payload == job_id) named = true;
  }

  std::string job_id;
  bool named = false;
};

std::string job_done_channel(const std::string& schema) {
  return schema + "_job_done";
}

std::string waiter_application_name(const std::string& schema) {
  return "celeriac wait " + schema;
}

JobWaiter::JobWaiter(const std::string& database_url, std::string schema)
    : schema_(std::move(schema)) {
  validate_schema_name(schema_);
  try {
    conn_ = std::make_unique<pqxx::connection>(with_connect_timeout(database_url));
    // Names the connection in pg_stat_activity, for operators (and tests).
    pqxx::nontransaction tx{*conn_};
    tx.exec0("set application_name = " + tx.quote(waiter_application_name(schema_)));
  } catch (const pqxx::broken_connection& e) {
    throw InfrastructureError(
        fmt::format("database {} unreachable: {}", redact_url(database_url), e.what()));
  }
}

JobWaiter::~JobWaiter() = default;

std::optional<JobRecord> JobWaiter::wait(JobId id, std::chrono::steady_clock::time_point deadline) {
  try {
    Listener listener(*conn_, job_done_channel(schema_), id.str());
    for (;;) {
      // Cleared before reading: a notification dispatched as the read's
      // transaction ends may be about a commit the read did not see.
      listener.named = false;
      last_seen_ = find_job(*conn_, schema_, id);
      if (last_seen_ && is_terminal(last_seen_->state)) return last_seen_;
      // Sleep until a notification (any job's) or the deadline; read again
      // only when one named this job.
      while (!listener.named) {
        auto left = std::chrono::duration_cast<std::chrono::microseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= std::chrono::microseconds::zero()) return std::nullopt;
        left = std::min<std::chrono::microseconds>(left, kLongestSleep);
        conn_->await_notification(static_cast<long>(left.count() / 1'000'000),
                                  static_cast<long>(left.count() % 1'000'000));
      }
    }
  } catch (const pqxx::broken_connection& e) {
    throw InfrastructureError(
        fmt::format("database connection lost while waiting for job {}: {}", id.str(), e.what()));
  }
}

} // namespace celeriac::store
