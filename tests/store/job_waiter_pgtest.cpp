// JobWaiter against the private PostgreSQL: woken by the trigger's NOTIFY
// within 50 ms of the commit, deaf to other jobs, clean timeouts, reusable.
#include "celeriac/store/job_waiter.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "celeriac/core/error.hpp"
#include "store_fixture.hpp"

namespace {

using celeriac::JobId;
using celeriac::JobState;
using celeriac::test::MigratedSchema;
using celeriac::test::random_job_id;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace store = celeriac::store;

// True once the waiter of DB's schema sits idle after reading the job (its
// last statement ended the read): it is then in await_notification, so only
// a NOTIFY (or the deadline) can wake it.
bool waiter_is_asleep(MigratedSchema& db) {
  pqxx::work tx{db.conn};
  return tx.exec_params1(
               "select count(*) from pg_stat_activity where application_name = $1"
               " and state = 'idle' and query in ('COMMIT', 'ROLLBACK')",
               store::waiter_application_name(db.name))[0]
             .as<long>() > 0;
}

// Starts a wait for ID on another thread, returns once it sleeps.
std::future<std::pair<std::optional<store::JobRecord>, Clock::time_point>> wait_async(
    store::JobWaiter& waiter, MigratedSchema& db, JobId id, milliseconds timeout) {
  auto future = std::async(std::launch::async, [&waiter, id, timeout] {
    auto record = waiter.wait(id, Clock::now() + timeout);
    return std::make_pair(std::move(record), Clock::now());
  });
  REQUIRE(celeriac::test::eventually([&] { return waiter_is_asleep(db); }, milliseconds(5000)));
  return future;
}

TEST_CASE("JobWaiter: a job already finished returns at once") {
  MigratedSchema db;
  const JobId id = random_job_id();
  db.insert_job(id, "SUCCESS", "2026-01-01 00:00:00+00");
  store::JobWaiter waiter(celeriac::test::database_url(), db.name);
  const auto start = Clock::now();
  const auto record = waiter.wait(id, Clock::now() + std::chrono::seconds(10));
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Success);
  CHECK(Clock::now() - start < milliseconds(1000));
}

TEST_CASE("JobWaiter: the NOTIFY wakes a wait within 50 ms of the commit") {
  MigratedSchema db;
  store::JobWaiter waiter(celeriac::test::database_url(), db.name);
  std::vector<double> latencies_ms;
  for (int i = 0; i < 20; ++i) {
    const JobId id = random_job_id();
    db.insert_job(id, "STARTED");
    auto pending = wait_async(waiter, db, id, milliseconds(10'000));
    db.set_state(id, i % 2 == 0 ? "SUCCESS" : "FAILURE");
    const auto committed = Clock::now();
    const auto [record, woke] = pending.get();
    REQUIRE(record.has_value());
    CHECK(is_terminal(record->state));
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(woke - committed).count());
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  MESSAGE("commit-to-wake latency over 20 waits: median " << latencies_ms[10] << " ms, max "
                                                          << latencies_ms.back() << " ms");
  // The requirement is 50 ms; the max gets room for a loaded CI machine.
  CHECK(latencies_ms[10] < 50.0);
  CHECK(latencies_ms.back() < 500.0);
}

TEST_CASE("JobWaiter: other jobs finishing do not end the wait; a job inserted finished does") {
  MigratedSchema db;
  store::JobWaiter waiter(celeriac::test::database_url(), db.name);
  const JobId mine = random_job_id();
  auto pending = wait_async(waiter, db, mine, milliseconds(10'000));
  for (int i = 0; i < 3; ++i)
    db.insert_job(random_job_id(), "SUCCESS", "2026-01-01 00:00:00+00");
  CHECK(pending.wait_for(milliseconds(200)) == std::future_status::timeout);
  db.insert_job(mine, "REVOKED", "2026-01-01 00:00:00+00"); // the insert trigger notifies too
  const auto [record, woke] = pending.get();
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Revoked);
}

TEST_CASE("JobWaiter: times out cleanly, and waits again afterwards") {
  MigratedSchema db;
  store::JobWaiter waiter(celeriac::test::database_url(), db.name);
  const JobId id = random_job_id();
  db.insert_job(id, "RECEIVED");
  const auto start = Clock::now();
  CHECK_FALSE(waiter.wait(id, start + milliseconds(200)).has_value());
  const auto waited = Clock::now() - start;
  CHECK(waited >= milliseconds(200));
  CHECK(waited < milliseconds(2000));
  REQUIRE(waiter.last_seen().has_value());
  CHECK(waiter.last_seen()->state == JobState::Received);

  // An unknown job times out with nothing seen.
  CHECK_FALSE(waiter.wait(random_job_id(), Clock::now() + milliseconds(50)).has_value());
  CHECK_FALSE(waiter.last_seen().has_value());

  // The same waiter (as a pool would reuse it) still hears its job.
  auto pending = wait_async(waiter, db, id, milliseconds(10'000));
  db.set_state(id, "SUCCESS");
  const auto [record, woke] = pending.get();
  REQUIRE(record.has_value());
  CHECK(record->result == nlohmann::json{{"ok", true}});
}

TEST_CASE("JobWaiter: bad schema and unreachable database are clear errors") {
  CHECK_THROWS_AS(store::JobWaiter(celeriac::test::database_url(), "Bad-Name"),
                  celeriac::InvalidInput);
  try {
    store::JobWaiter waiter("postgresql://someone:secret@127.0.0.1:1/none", "celeriac");
    FAIL("connected to a closed port");
  } catch (const celeriac::InfrastructureError& e) {
    const std::string what = e.what();
    CHECK(what.find("127.0.0.1:1") != std::string::npos);
    CHECK(what.find("secret") == std::string::npos);
  }
}

} // namespace
