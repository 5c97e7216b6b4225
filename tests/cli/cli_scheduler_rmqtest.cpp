// `celeriac scheduler`, `schedules list` and `schedules run` as an operator
// uses them: a replica that leads, a SIGHUP that adds a schedule (and one
// that brings a broken file, which is ignored), a manual fire, an unknown
// schedule, and SIGTERM releasing the lock.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../broker/broker_fixture.hpp"
#include "celeriac/store/migrations.hpp"
#include "celeriac/store/schedule_store.hpp"
#include "cli_process.hpp"

namespace {

using celeriac::test::CliProcess;
using celeriac::test::required_env;
using celeriac::test::run_celeriac;
using namespace std::chrono_literals;
namespace store = celeriac::store;

std::string schedule_toml(const std::string& name, const std::string& queue) {
  return fmt::format(R"(
[[schedules]]
name = "{}"
every = "1s"
task = "demo.add"
args = [1, 1]
queue = "{}"
expires = "10m"
)",
                     name, queue);
}

} // namespace

TEST_CASE(
    "scheduler: leads, reloads on SIGHUP, keeps running on a broken file, stops on SIGTERM;"
    " schedules list and run") {
  const std::string schema = celeriac::test::unique_name("celeriac_cli_sched_");
  const std::string queue = celeriac::test::unique_name("cli_sched_");
  celeriac::test::BrokerFixture broker{
      {celeriac::broker::QueueSpec{queue, false, 9}},
      false,
      [](celeriac::broker::BrokerOptions& o) { o.connection.heartbeat = {}; }};
  pqxx::connection db{required_env("CELERIAC_DATABASE_URL")};
  store::migrate(db, schema);
  const std::string base = fmt::format("[database]\nschema = \"{}\"\n[queues.{}]\n", schema, queue);
  celeriac::test::ScratchConfig config{base + schedule_toml("first", queue)};
  const std::map<std::string, std::string> env{
      {"CELERIAC_CONFIG", config.file.string()},
      {"CELERIAC_BROKER_URL", required_env("CELERIAC_BROKER_URL")},
      {"CELERIAC_DATABASE_URL", required_env("CELERIAC_DATABASE_URL")}};
  const auto fires = [&](const std::string& name) {
    return store::fires_of(db, schema, name).size();
  };

  CliProcess scheduler({"scheduler", "--name", "cli-test"}, env);
  REQUIRE(celeriac::test::eventually([&] { return fires("first") >= 2; }, 10s, 50ms));

  SUBCASE("list shows the leader and the schedules") {
    const auto list = run_celeriac({"schedules", "list", "--json"}, env);
    REQUIRE(list.code == 0);
    const auto json = nlohmann::json::parse(list.out);
    CHECK(json["leader"] == "celeriac-scheduler/cli-test");
    REQUIRE(json["schedules"].size() == 1);
    CHECK(json["schedules"][0]["name"] == "first");
    CHECK(json["schedules"][0]["timing"] == "every 1s");
    CHECK(json["schedules"][0]["last_fire"].is_string());
    CHECK(json["schedules"][0]["next_fire"].is_string());
    const auto text = run_celeriac({"schedules", "list"}, env);
    CHECK(text.out.find("leader: celeriac-scheduler/cli-test") != std::string::npos);
  }

  SUBCASE("SIGHUP adds a schedule; a broken file is logged and the old one kept") {
    std::ofstream(config.file) << base + schedule_toml("first", queue) +
                                      schedule_toml("second", queue);
    scheduler.signal(SIGHUP);
    REQUIRE(celeriac::test::eventually([&] { return fires("second") >= 2; }, 10s, 50ms));
    std::ofstream(config.file) << "[[schedules]\nbroken";
    scheduler.signal(SIGHUP);
    const auto before = fires("second");
    REQUIRE(celeriac::test::eventually([&] { return fires("second") >= before + 2; }, 10s, 50ms));
    CHECK_FALSE(scheduler.exited());
    std::ofstream(config.file) << base + schedule_toml("first", queue); // for what follows
  }

  SUBCASE("schedules run fires one now, recorded as manual; an unknown name is refused") {
    const auto run = run_celeriac({"schedules", "run", "first", "--json"}, env);
    REQUIRE_MESSAGE(run.code == 0, run.err);
    const auto json = nlohmann::json::parse(run.out);
    const auto id = celeriac::JobId::parse(json["job_id"].get<std::string>());
    REQUIRE(id.has_value());
    bool found = false;
    for (const auto& fire : store::fires_of(db, schema, "first")) {
      if (fire.job_id != *id) continue;
      found = true;
      CHECK(fire.manual);
      CHECK(fire.published_at.has_value());
    }
    CHECK(found);
    const auto unknown = run_celeriac({"schedules", "run", "nope"}, env);
    CHECK(unknown.code == 2);
    CHECK(unknown.err.find("no schedule named 'nope'") != std::string::npos);
    CHECK(unknown.err.find("first") != std::string::npos);
  }

  scheduler.signal(SIGTERM);
  const auto result = scheduler.finish(20s);
  CHECK_MESSAGE(result.code == 0, result.err);
  CHECK((result.out + result.err).find("leader now") != std::string::npos);
  const auto after = run_celeriac({"schedules", "list"}, env);
  CHECK(after.out.find("leader: none") != std::string::npos);
  pqxx::work tx{db};
  tx.exec0("drop schema if exists " + tx.quote_name(schema) + " cascade");
  tx.commit();
}
