// `celeriac worker` as operators run it: jobs enqueued with the CLI run in its
// process pool and their results come back to `enqueue --wait`; SIGTERM stops
// it warm with exit 0; bad flags exit 2 naming the key. Needs both servers.
#include <doctest/doctest.h>

#include <csignal>

#include <nlohmann/json.hpp>

#include "cli_queues.hpp"

using celeriac::test::CliProcess;
using celeriac::test::CliQueues;
using celeriac::test::run_celeriac;

TEST_CASE("jobs enqueued from the CLI run in `celeriac worker`; SIGTERM stops it warm") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  CliProcess worker({"worker", "-Q", q.main, "-c", "2"}, q.env);

  const auto added = run_celeriac(
      {"enqueue", "demo.add", "--queue", q.main, "--args", "[2, 3]", "--wait", "--timeout", "60s"},
      q.env);
  CHECK_MESSAGE(added.code == 0, added.err);
  CHECK(added.out.ends_with("\n5\n"));

  const auto failed = run_celeriac({"enqueue", "demo.add", "--queue", q.main, "--args",
                                    R"(["two", 3])", "--wait", "--timeout", "60s"},
                                   q.env);
  CHECK(failed.code == 1); // the job ran and failed: a: must be a number
  CHECK(failed.err.find("ended in FAILURE") != std::string::npos);
  CHECK(failed.err.find("a: must be a number") != std::string::npos);

  worker.signal(SIGTERM);
  const auto stopped = worker.finish(std::chrono::seconds(60));
  CHECK_MESSAGE(stopped.code == 0, stopped.err);
  CHECK(stopped.err.find("warm shutdown") != std::string::npos);
  CHECK(q.depth(q.main) == 0);
}

TEST_CASE("bad worker flags exit 2 naming the key, before connecting to anything") {
  CliQueues q;
  auto r = run_celeriac({"worker", "--pool", "fork"}, q.env);
  CHECK(r.code == 2);
  CHECK(r.err.find("worker.pool") != std::string::npos);
  r = run_celeriac({"worker", "-Q", "nope"}, q.env);
  CHECK(r.code == 2);
  CHECK(r.err.find("nope") != std::string::npos);
  r = run_celeriac({"worker", "-c", "0"}, q.env);
  CHECK(r.code == 2);
  CHECK(r.err.find("worker.concurrency") != std::string::npos);
}

TEST_CASE("the config's [tasks] reach `celeriac worker` and its pool children") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  // The worker's own config: the test's queues plus [tasks]. Jobs are enqueued
  // with q.env's config, which has no [tasks], so no limit travels in the
  // messages: what the worker applies comes from its own config alone.
  celeriac::test::ScratchConfig config{"[database]\nschema = \"" + q.schema + "\"\n[queues." +
                                       q.main + "]\n[queues." + q.other + "]\n" + R"toml(
[tasks."ext.echo"]
command = ["/bin/sh", "-c", "printf '{\"greeting\": \"%s\", \"input\": ' \"$GREETING\"; cat; printf '}'"]
env = { GREETING = "hello" }
[tasks."demo.sleep"]
soft_time_limit = "1s"
retry = { max_retries = 0 }
)toml"};
  auto worker_env = q.env;
  worker_env["CELERIAC_CONFIG"] = config.file.string();
  CliProcess worker({"worker", "-Q", q.main, "-c", "1"}, worker_env);

  const auto echoed = run_celeriac(
      {"enqueue", "ext.echo", "--queue", q.main, "--args", "[2, 3]", "--wait", "--timeout", "60s"},
      q.env);
  REQUIRE_MESSAGE(echoed.code == 0, echoed.err);
  const auto newline = echoed.out.find('\n');
  const std::string id = echoed.out.substr(0, newline);
  const auto result = nlohmann::json::parse(echoed.out.substr(newline + 1)); // from the store
  CHECK(result["greeting"] == "hello");
  CHECK(result["input"]["args"] == nlohmann::json{2, 3});
  CHECK(result["input"]["job"]["id"] == id);
  CHECK(result["input"]["job"]["task"] == "ext.echo");

  // demo.sleep's code sets no limit; the worker's config gives it 1 s and no retries.
  const auto slept = run_celeriac(
      {"enqueue", "demo.sleep", "--queue", q.main, "--args", "[30]", "--wait", "--timeout", "60s"},
      q.env);
  CHECK(slept.code == 1);
  CHECK_MESSAGE(slept.err.find("ended in FAILURE") != std::string::npos, slept.err);
  CHECK_MESSAGE(slept.err.find("soft time limit exceeded") != std::string::npos, slept.err);

  worker.signal(SIGTERM);
  const auto stopped = worker.finish(std::chrono::seconds(60));
  CHECK_MESSAGE(stopped.code == 0, stopped.err);
}
