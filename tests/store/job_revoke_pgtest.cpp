// revoke_job against the private PostgreSQL: a live job becomes REVOKED and
// its waiter wakes, a finished one stays as it was, an untracked one is only
// remembered in `revoked`. Rows are written through apply_changes, as the
// client and workers write them.
#include <doctest/doctest.h>

#include <chrono>
#include <future>

#include "celeriac/store/job_changes.hpp"
#include "celeriac/store/job_records.hpp"
#include "celeriac/store/job_waiter.hpp"
#include "store_fixture.hpp"

namespace {

using celeriac::Job;
using celeriac::JobId;
using celeriac::JobState;
using celeriac::test::MigratedSchema;
using celeriac::test::random_job_id;
namespace store = celeriac::store;
using Clock = std::chrono::steady_clock;

celeriac::Timestamp at(const char* text) {
  return celeriac::parse_iso8601(text).value();
}

Job demo_job() {
  Job job;
  job.id = random_job_id();
  job.task = "demo.add";
  job.queue = "default";
  return job;
}

void write(MigratedSchema& db, const store::JobChange& change) {
  pqxx::work tx{db.conn};
  store::apply_changes(tx, db.name, std::span<const store::JobChange>(&change, 1));
  tx.commit();
}

store::RevokeRequest request(const char* reason, bool terminate = false) {
  return store::RevokeRequest{reason, terminate, at("2026-04-01T00:00:00Z"),
                              at("2026-03-01T00:00:00Z")};
}

TEST_CASE("revoke_job: a pending job becomes REVOKED and is remembered in revoked") {
  MigratedSchema db;
  const Job job = demo_job();
  write(db, store::pending_change(job, at("2026-02-28T00:00:00Z")));

  const auto result =
      store::revoke_job(db.conn, db.name, job.id, request("no longer needed", true));
  CHECK(result.effect == store::RevokeEffect::Revoked);
  CHECK(result.previous_state == JobState::Pending);

  const auto record = store::find_job(db.conn, db.name, job.id);
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Revoked);
  REQUIRE(record->error.has_value());
  CHECK(record->error->type == "TaskRevokedError");
  CHECK(record->error->message == "no longer needed");
  CHECK(record->finished_at == at("2026-03-01T00:00:00Z"));
  CHECK(db.count("select count(*) from " + db.table("revoked") + " where id = '" + job.id.str() +
                 "' and terminate and reason = 'no longer needed'"
                 " and expires_at = '2026-04-01 00:00:00+00'") == 1);
}

TEST_CASE("revoke_job: a finished job stays as it was, and a repeat revoke updates the entry") {
  MigratedSchema db;
  const Job job = demo_job();
  store::JobChange done = store::received_change(job, at("2026-02-28T00:00:00Z"), "w:1");
  done.state = JobState::Success;
  done.result = nlohmann::json{{"sum", 5}};
  write(db, done);

  const auto result = store::revoke_job(db.conn, db.name, job.id, request("first"));
  CHECK(result.effect == store::RevokeEffect::AlreadyFinished);
  CHECK(result.previous_state == JobState::Success);
  const auto record = store::find_job(db.conn, db.name, job.id);
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Success);
  CHECK(record->result == nlohmann::json{{"sum", 5}});

  store::revoke_job(db.conn, db.name, job.id, request("second"));
  CHECK(db.count("select count(*) from " + db.table("revoked") + " where reason = 'second'") == 1);
}

TEST_CASE("revoke_job: an untracked job gets no record, only the revoked entry") {
  MigratedSchema db;
  const JobId id = random_job_id();
  const auto result = store::revoke_job(db.conn, db.name, id, request("typo?"));
  CHECK(result.effect == store::RevokeEffect::NotTracked);
  CHECK_FALSE(result.previous_state.has_value());
  CHECK_FALSE(store::find_job(db.conn, db.name, id).has_value());
  CHECK(db.count("select count(*) from " + db.table("revoked")) == 1);
}

TEST_CASE("revoke_job: wakes a waiter; a late worker RECEIVED does not undo it") {
  MigratedSchema db;
  const Job job = demo_job();
  write(db, store::received_change(job, at("2026-02-28T00:00:00Z"), "w:1"));
  store::JobWaiter waiter(celeriac::test::database_url(), db.name);
  auto pending = std::async(std::launch::async, [&] {
    return waiter.wait(job.id, Clock::now() + std::chrono::seconds(10));
  });
  REQUIRE(celeriac::test::eventually(
      [&] {
        return db.count("select count(*) from pg_stat_activity where application_name = '" +
                        store::waiter_application_name(db.name) +
                        "' and state = 'idle' and query in ('COMMIT', 'ROLLBACK')") > 0;
      },
      std::chrono::milliseconds(5000)));
  store::revoke_job(db.conn, db.name, job.id, request("stop"));
  const auto record = pending.get();
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Revoked);

  write(db, store::received_change(job, at("2026-03-02T00:00:00Z"), "w:2"));
  CHECK(store::find_job(db.conn, db.name, job.id)->state == JobState::Revoked);
}

} // namespace
