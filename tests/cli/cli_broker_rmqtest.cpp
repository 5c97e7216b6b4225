// The broker-side commands against the private RabbitMQ: enqueue (and bad
// input that must publish nothing), inspect queues, purge. Each test case
// declares its own queues (deleted at the end) and names them in a scratch
// configuration for the child.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli_queues.hpp"

namespace {

using celeriac::test::CliQueues;
using celeriac::test::CliResult;
using celeriac::test::line_count;
using celeriac::test::run_celeriac;

celeriac::JobId printed_id(const CliResult& r) {
  REQUIRE_MESSAGE(r.code == 0, r.err);
  REQUIRE(r.out.size() == 37);
  REQUIRE(r.out.back() == '\n');
  const auto id = celeriac::JobId::parse(r.out.substr(0, 36));
  REQUIRE(id.has_value());
  return *id;
}

} // namespace

TEST_CASE("bad enqueue input exits 2 and publishes nothing") {
  CliQueues q;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--args", "[1, 2"}, "--args: malformed JSON"},
      {{"--kwargs", "{nope}"}, "--kwargs: malformed JSON"},
      {{"--queue", "no_such_queue"}, "queue: 'no_such_queue' is not a configured queue"},
      {{"--priority", "12"}, "priority: must be between 0 and 9, got 12"},
      {{"--eta", "2001-01-01T00:00:00Z", "--countdown", "30"}, "countdown: give countdown or eta"},
  };
  for (const auto& [flags, message] : cases) {
    CAPTURE(flags);
    const auto r = q.enqueue(flags);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(line_count(r.err) == 1);
    CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
  }
  CHECK(q.depth(q.main) == 0);
  CHECK(q.depth(q.other) == 0);
  // And a good one does arrive, so the zeros above mean something.
  printed_id(q.enqueue({}));
  CHECK(q.depth(q.main) == 1);
}

TEST_CASE("enqueue prints the job id once the message is in its queue") {
  CliQueues q;
  const auto id = printed_id(q.enqueue(
      {"--args", "[1, 2]", "--kwargs", R"({"scale": 3})", "--priority", "7", "--expires", "10m"}));
  CHECK(q.depth(q.main) == 1); // confirmed before the id was printed
  const celeriac::Job job = q.take(q.main);
  CHECK(job.id == id);
  CHECK(job.task == "demo.add");
  CHECK(job.args == nlohmann::json::array({1, 2}));
  CHECK(job.kwargs == nlohmann::json{{"scale", 3}});
  CHECK(job.priority == 7);
  CHECK(job.expires.has_value());

  const auto other = printed_id(q.enqueue({"--queue", q.other}));
  CHECK(q.take(q.other).id == other);

  const auto r = q.enqueue({"--queue", q.other, "--json"});
  REQUIRE(r.code == 0);
  const auto json = nlohmann::json::parse(r.out);
  CHECK(celeriac::JobId::parse(json["id"].get<std::string>()).has_value());

  const auto chosen = "0b7c9d2e-1f3a-4b5c-8d6e-7f8091a2b3c4";
  CHECK(printed_id(q.enqueue({"--id", chosen})).str() == chosen);
}

TEST_CASE("enqueue with --countdown arrives through the delay levels") {
  CliQueues q;
  const auto id = printed_id(q.enqueue({"--countdown", "1s"}));
  CHECK(q.depth(q.main) == 0);
  CHECK(celeriac::test::eventually([&] { return q.depth(q.main) == 1; }, std::chrono::seconds(15)));
  CHECK(q.take(q.main).id == id);
}

TEST_CASE("inspect queues over AMQP and over the management API") {
  CliQueues q;
  printed_id(q.enqueue({}));
  printed_id(q.enqueue({}));
  auto r = run_celeriac({"inspect", "queues", "--json"}, q.env);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto json = nlohmann::json::parse(r.out);
  CHECK(json["source"] == "amqp");
  REQUIRE(json["queues"].size() == 2);
  CHECK(json["queues"][0]["name"] == q.main);
  CHECK(json["queues"][0]["exists"] == true);
  CHECK(json["queues"][0]["ready"] == 2);
  CHECK(json["queues"][0]["consumers"] == 0);
  CHECK(json["queues"][0]["unacked"].is_null());
  CHECK(json["queues"][0]["publish_rate"].is_null());
  CHECK(json["queues"][1]["ready"] == 0);

  r = run_celeriac({"inspect", "queues"}, q.env);
  REQUIRE(r.code == 0);
  CHECK(r.out.starts_with("QUEUE"));
  CHECK(r.out.find(q.main) != std::string::npos);
  CHECK(r.out.find("unacked messages and rates are not known") != std::string::npos);

  auto env = q.env;
  env["CELERIAC_MANAGEMENT_URL"] = celeriac::test::required_env("CELERIAC_MANAGEMENT_URL");
  // The management API's figures lag the broker by up to its sampling interval.
  CHECK(celeriac::test::eventually(
      [&] {
        r = run_celeriac({"inspect", "queues", "--json"}, env);
        REQUIRE_MESSAGE(r.code == 0, r.err);
        json = nlohmann::json::parse(r.out);
        return json["queues"][0]["ready"] == 2;
      },
      std::chrono::seconds(20), std::chrono::milliseconds(500)));
  CHECK(json["source"] == "management");
  CHECK(json["queues"][0]["unacked"] == 0);
  CHECK(json["queues"][0]["publish_rate"].is_number());
  CHECK(json["queues"][0]["dead"] == 0);
}

TEST_CASE("purge deletes ready messages, only with --yes, only configured queues") {
  CliQueues q;
  for (int i = 0; i < 3; ++i)
    printed_id(q.enqueue({}));
  auto r = run_celeriac({"purge", q.main}, q.env);
  CHECK(r.code == 2);
  CHECK(r.err.find("without --yes") != std::string::npos);
  CHECK(q.depth(q.main) == 3);
  r = run_celeriac({"purge", "not_ours", "--yes"}, q.env);
  CHECK(r.code == 2);
  CHECK(line_count(r.err) == 1);

  r = run_celeriac({"purge", q.main, "--yes"}, q.env);
  CHECK(r.code == 0);
  CHECK(r.out == "purged 3 messages from " + q.main + "\n");
  CHECK(q.depth(q.main) == 0);
  r = run_celeriac({"purge", q.main + ".dead", "--yes", "--json"}, q.env);
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(r.out) ==
        nlohmann::json{{"queue", q.main + ".dead"}, {"exists", true}, {"purged", 0}});
}
