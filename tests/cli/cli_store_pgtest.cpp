// The database-side commands against the private PostgreSQL: migrate (twice),
// status and result of recorded jobs, and inspect workers. Each test case has
// its own schema, dropped at the end, named in a scratch configuration.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include "celeriac/store/job_changes.hpp"
#include "celeriac/store/migrations.hpp"
#include "cli_process.hpp"

namespace {

using celeriac::JobId;
using celeriac::JobState;
using celeriac::test::run_celeriac;

celeriac::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// A schema of its own, a configuration naming it, and the child's environment.
struct CliDatabase {
  std::string schema = celeriac::test::unique_name("celeriac_cli_");
  celeriac::test::ScratchConfig config{"[database]\nschema = \"" + schema + "\"\n"};
  std::map<std::string, std::string> env{
      {"CELERIAC_CONFIG", config.file.string()},
      {"CELERIAC_DATABASE_URL", celeriac::test::required_env("CELERIAC_DATABASE_URL")},
      // The database commands must not need the broker: nothing listens here.
      {"CELERIAC_BROKER_URL", "amqp://guest:guest@127.0.0.1:1/%2f"}};
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};

  CliDatabase() = default;
  CliDatabase(const CliDatabase&) = delete;
  CliDatabase& operator=(const CliDatabase&) = delete;
  ~CliDatabase() {
    try {
      pqxx::work tx{conn};
      tx.exec0("drop schema if exists " + tx.quote_name(schema) + " cascade");
      tx.commit();
    } catch (const std::exception& e) {
      MESSAGE("could not drop schema " << schema << ": " << e.what());
    }
  }

  void migrate() { celeriac::store::migrate(conn, schema); }

  void apply(const std::vector<celeriac::store::JobChange>& changes) {
    pqxx::work tx{conn};
    celeriac::store::apply_changes(tx, schema, changes);
    tx.commit();
  }

  JobId record(JobState state, std::optional<nlohmann::json> result = std::nullopt,
               std::optional<celeriac::store::JobError> error = std::nullopt) {
    celeriac::Job job;
    job.id = JobId::v4(celeriac::JobId::Bytes{static_cast<std::uint8_t>(state), 7, 7, 7});
    job.task = "demo.add";
    job.queue = "default";
    job.args = nlohmann::json::array({1, 2});
    const auto t = now();
    celeriac::store::JobChange change;
    change.id = job.id;
    change.state = state;
    change.at = t;
    change.job = job;
    change.worker = "host-a:42";
    change.result = std::move(result);
    change.error = std::move(error);
    apply({celeriac::store::received_change(job, t, "host-a:42"), change});
    return job.id;
  }
};

} // namespace

TEST_CASE("migrate creates the schema, then finds nothing to do") {
  CliDatabase db;
  const int latest = celeriac::store::latest_version();
  auto r = run_celeriac({"migrate"}, db.env);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.starts_with(
      fmt::format("schema {} migrated from version 0 to {} (applied 1", db.schema, latest)));
  r = run_celeriac({"migrate"}, db.env);
  CHECK(r.code == 0);
  CHECK(r.out == fmt::format("schema {} is up to date at version {}\n", db.schema, latest));
  r = run_celeriac({"migrate", "--json"}, db.env);
  CHECK(r.code == 0);
  const auto json = nlohmann::json::parse(r.out);
  CHECK(json["from_version"] == latest);
  CHECK(json["to_version"] == latest);
  CHECK(json["applied"].empty());
  CHECK(celeriac::store::current_version(db.conn, db.schema) == latest);
}

TEST_CASE("a bad schema name is exit 2 before the database is touched") {
  CliDatabase db;
  const auto r = run_celeriac({"migrate", "--set", "database.schema=pg_nope"}, db.env);
  CHECK(r.code == 2);
  CHECK(r.err.find("schema") != std::string::npos);
  CHECK(celeriac::test::line_count(r.err) == 1);
}

TEST_CASE("status and result of recorded jobs") {
  CliDatabase db;
  db.migrate();
  const JobId done = db.record(JobState::Success, nlohmann::json{{"sum", 3}});
  const JobId failed = db.record(JobState::Failure, std::nullopt,
                                 celeriac::store::JobError{"ValueError", "bad input", "trace"});
  const JobId running = db.record(JobState::Started);

  auto r = run_celeriac({"status", done.str()}, db.env);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("state:       SUCCESS") != std::string::npos);
  CHECK(r.out.find("worker:      host-a:42") != std::string::npos);
  r = run_celeriac({"status", failed.str(), "--json"}, db.env);
  REQUIRE(r.code == 0);
  const auto json = nlohmann::json::parse(r.out);
  CHECK(json["state"] == "FAILURE");
  CHECK(json["error"]["type"] == "ValueError");
  CHECK(json["task"] == "demo.add");
  CHECK(json["args"] == nlohmann::json::array({1, 2}));

  r = run_celeriac({"result", done.str()}, db.env);
  CHECK(r.code == 0);
  CHECK(r.out == "{\"sum\":3}\n");
  r = run_celeriac({"result", failed.str()}, db.env);
  CHECK(r.code == 1);
  CHECK(r.err == fmt::format("celeriac result: job {} ended in FAILURE: ValueError: bad input\n",
                             failed.str()));
  r = run_celeriac({"result", running.str()}, db.env);
  CHECK(r.code == 1);
  CHECK(r.err.find("is STARTED: no result yet") != std::string::npos);
  r = run_celeriac({"result", running.str(), "--wait", "--timeout", "200ms"}, db.env);
  CHECK(r.code == 1);
  CHECK(r.err.find("not finished after 200ms (state: STARTED)") != std::string::npos);
}

TEST_CASE("an unknown job id is 'not found', exit 1") {
  CliDatabase db;
  db.migrate();
  const std::string id = "2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f";
  for (const char* command : {"status", "result"}) {
    const auto r = run_celeriac({command, id}, db.env);
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err == fmt::format("celeriac {}: job {} not found\n", command, id));
  }
}

TEST_CASE("inspect workers lists the workers table") {
  CliDatabase db;
  db.migrate();
  auto r = run_celeriac({"inspect", "workers"}, db.env);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "no worker has reported yet\n");
  {
    pqxx::work tx{db.conn};
    tx.exec0("insert into " + tx.quote_name(db.schema) +
             ".workers (hostname, pid, queues, concurrency, started_at, last_heartbeat, "
             "processed, failed) values ('host-b', 4242, '{high,default}', 8, "
             "now() - interval '1 hour', now(), 120, 3)");
    tx.commit();
  }
  r = run_celeriac({"inspect", "workers"}, db.env);
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with(
      "HOSTNAME   PID  QUEUES        CONCURRENCY  PROCESSED  FAILED  UP  LAST SEEN\n"));
  CHECK(r.out.find("\nhost-b    4242  high,default            8        120       3  1h") !=
        std::string::npos);
  r = run_celeriac({"inspect", "workers", "--json"}, db.env);
  REQUIRE(r.code == 0);
  const auto json = nlohmann::json::parse(r.out);
  REQUIRE(json["workers"].size() == 1);
  CHECK(json["workers"][0]["hostname"] == "host-b");
  CHECK(json["workers"][0]["queues"] == nlohmann::json::array({"high", "default"}));
  CHECK(json["workers"][0]["processed"] == 120);
  CHECK(json["workers"][0]["seconds_since_heartbeat"].get<double>() < 60);
}
