// find_job, expire_results and list_workers against the private PostgreSQL,
// each test in a fresh schema.
#include "celeriac/store/job_records.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "celeriac/core/error.hpp"
#include "store_fixture.hpp"

namespace {

using celeriac::JobId;
using celeriac::JobState;
using celeriac::parse_iso8601;
using celeriac::test::MigratedSchema;
using celeriac::test::random_job_id;
namespace store = celeriac::store;

celeriac::Timestamp at(const char* text) {
  return parse_iso8601(text).value();
}

TEST_CASE("find_job: an unknown id has no record") {
  MigratedSchema db;
  CHECK_FALSE(store::find_job(db.conn, db.name, random_job_id()).has_value());
}

TEST_CASE("find_job: every column comes back typed, timestamps to the microsecond") {
  MigratedSchema db;
  const JobId id = random_job_id();
  const JobId parent = random_job_id();
  db.exec("insert into " + db.table("jobs") +
          " (id, task, queue, priority, state, args, kwargs, result, error_type, error_message,"
          " error_stack, retries, max_retries, deliveries, worker, parent_id, root_id, group_id,"
          " eta, expires, enqueued_at, received_at, started_at, finished_at, updated_at,"
          " unique_key) values ('" +
          id.str() +
          "', 'reports.build', 'high', 7, 'FAILURE',"
          " '[1, \"two\"]', '{\"k\": [3]}', 'null', 'ValueError', 'bad value', 'trace', 2, 5, 3,"
          " 'host:42', '" +
          parent.str() + "', '" + parent.str() +
          "', 'g1',"
          " '2026-03-01 12:00:00.123456+00', '2026-03-02 00:00:00+01',"
          " '2026-03-01 11:00:00+00', '2026-03-01 11:00:01+00', '2026-03-01 11:00:02+00',"
          " '2026-03-01 11:00:03.000001+00', '2026-03-01 11:00:04+00', 'key-1')");

  const auto job = store::find_job(db.conn, db.name, id);
  REQUIRE(job.has_value());
  CHECK(job->id == id);
  CHECK(job->task == "reports.build");
  CHECK(job->queue == "high");
  CHECK(job->priority == 7);
  CHECK(job->state == JobState::Failure);
  CHECK(job->args == nlohmann::json::parse(R"([1, "two"])"));
  CHECK(job->kwargs == nlohmann::json::parse(R"({"k": [3]})"));
  REQUIRE(job->result.has_value()); // JSON null is a result, SQL null is none
  CHECK(job->result->is_null());
  REQUIRE(job->error.has_value());
  CHECK(*job->error == store::JobError{"ValueError", "bad value", "trace"});
  CHECK(job->retries == 2);
  CHECK(job->max_retries == 5);
  CHECK(job->deliveries == 3);
  CHECK(job->worker == "host:42");
  CHECK(job->parent_id == parent);
  CHECK(job->root_id == parent);
  CHECK(job->group == "g1");
  CHECK(job->unique_key == "key-1");
  CHECK(job->eta == at("2026-03-01T12:00:00.123456Z"));
  CHECK(job->expires == at("2026-03-01T23:00:00Z"));
  CHECK(job->enqueued_at == at("2026-03-01T11:00:00Z"));
  CHECK(job->received_at == at("2026-03-01T11:00:01Z"));
  CHECK(job->started_at == at("2026-03-01T11:00:02Z"));
  CHECK(job->finished_at == at("2026-03-01T11:00:03.000001Z"));
  CHECK(job->updated_at == at("2026-03-01T11:00:04Z"));
}

TEST_CASE("find_job: null columns are empty optionals, whatever the session time zone") {
  MigratedSchema db;
  db.exec("set time zone 'America/New_York'");
  const JobId id = random_job_id();
  db.exec("insert into " + db.table("jobs") + " (id, state, updated_at) values ('" + id.str() +
          "', 'PENDING', '2026-07-01 00:00:00+00')");
  const auto job = store::find_job(db.conn, db.name, id);
  REQUIRE(job.has_value());
  CHECK_FALSE(job->task.has_value());
  CHECK_FALSE(job->result.has_value());
  CHECK_FALSE(job->error.has_value());
  CHECK_FALSE(job->max_retries.has_value());
  CHECK_FALSE(job->parent_id.has_value());
  CHECK_FALSE(job->finished_at.has_value());
  CHECK(job->args == nlohmann::json::array());
  CHECK(job->updated_at == at("2026-07-01T00:00:00Z"));
}

TEST_CASE("find_job: a bad schema name is refused before any SQL") {
  MigratedSchema db;
  CHECK_THROWS_AS(store::find_job(db.conn, "Robert'); drop", random_job_id()),
                  celeriac::InvalidInput);
}

// Records the size of every DELETE statement on jobs in <schema>.batches.
void count_delete_batches(MigratedSchema& db) {
  db.exec("create table " + db.table("batches") +
          " (n int, at timestamptz default clock_timestamp())");
  db.exec("create function " + db.table("count_batch") +
          "() returns trigger language plpgsql as $$ begin insert into " + db.table("batches") +
          " (n) select count(*) from gone; return null; end $$");
  db.exec("create trigger count_batch after delete on " + db.table("jobs") +
          " referencing old table as gone for each statement execute function " +
          db.table("count_batch") + "()");
}

TEST_CASE("expire_results: deletes only finished jobs older than the cutoff, in bounded batches") {
  MigratedSchema db;
  count_delete_batches(db);
  std::vector<JobId> old_finished;
  const char* terminal[] = {"SUCCESS", "FAILURE", "REVOKED"};
  for (int i = 0; i < 25; ++i) {
    old_finished.push_back(random_job_id());
    db.insert_job(old_finished.back(), terminal[i % 3],
                  fmt::format("2026-01-01 00:00:{:02}+00", i));
  }
  const JobId recent = random_job_id();
  db.insert_job(recent, "SUCCESS", "2026-02-01 00:00:00+00");
  const JobId unfinished = random_job_id();
  db.insert_job(unfinished, "STARTED");
  // A non-terminal row with a stale finished_at (a retried job) is not finished.
  const JobId retrying = random_job_id();
  db.insert_job(retrying, "RETRY", "2025-12-31 00:00:00+00");

  const auto deleted = store::expire_results(db.conn, db.name, at("2026-01-15T00:00:00Z"), 7);
  CHECK(deleted == 25);
  CHECK(db.count("select count(*) from " + db.table("jobs")) == 3);
  for (const JobId& kept : {recent, unfinished, retrying}) {
    CHECK(store::find_job(db.conn, db.name, kept).has_value());
  }
  pqxx::work tx{db.conn};
  std::vector<int> batches;
  for (const auto& row : tx.exec("select n from " + db.table("batches") + " order by at"))
    batches.push_back(row[0].as<int>());
  CHECK(batches == std::vector<int>{7, 7, 7, 4});
}

TEST_CASE("expire_results: a row another transaction holds is skipped, not waited for") {
  MigratedSchema db;
  const JobId held = random_job_id();
  const JobId free = random_job_id();
  db.insert_job(held, "SUCCESS", "2026-01-01 00:00:00+00");
  db.insert_job(free, "SUCCESS", "2026-01-01 00:00:01+00");

  pqxx::connection other{celeriac::test::database_url()};
  pqxx::work lock{other};
  lock.exec_params("select 1 from " + db.table("jobs") + " where id = $1::uuid for update",
                   held.str());
  CHECK(store::expire_results(db.conn, db.name, at("2026-01-15T00:00:00Z"), 100) == 1);
  lock.abort();
  CHECK(store::expire_results(db.conn, db.name, at("2026-01-15T00:00:00Z"), 100) == 1);
  CHECK(db.count("select count(*) from " + db.table("jobs")) == 0);
}

TEST_CASE("expire_results: the batch size must be positive") {
  MigratedSchema db;
  CHECK_THROWS_AS(store::expire_results(db.conn, db.name, at("2026-01-01T00:00:00Z"), 0),
                  celeriac::InvalidInput);
}

TEST_CASE("list_workers: every row, most recent heartbeat first") {
  MigratedSchema db;
  CHECK(store::list_workers(db.conn, db.name).empty());
  db.exec("insert into " + db.table("workers") +
          " (hostname, pid, queues, concurrency, started_at, last_heartbeat, processed, failed)"
          " values ('a', 1, '{default,high}', 4, '2026-01-01 00:00:00+00',"
          " '2026-01-01 00:10:00+00', 10, 1), ('b', 2, '{}', 1, '2026-01-01 00:00:00+00',"
          " '2026-01-01 00:20:00+00', 0, 0)");
  const auto workers = store::list_workers(db.conn, db.name);
  REQUIRE(workers.size() == 2);
  CHECK(workers[0].hostname == "b");
  CHECK(workers[0].queues.empty());
  CHECK(workers[1] == store::WorkerRecord{"a",
                                          1,
                                          {"default", "high"},
                                          4,
                                          at("2026-01-01T00:00:00Z"),
                                          at("2026-01-01T00:10:00Z"),
                                          10,
                                          1});
}

} // namespace
