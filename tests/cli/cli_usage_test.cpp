// The `celeriac` binary without servers: usage errors, --help, configuration
// loading and `config check`, and bad enqueue input. The URLs point at a port
// nothing listens on, so a command that tried to connect would exit 1, not 2:
// every exit 2 here happened before any connection.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli_process.hpp"

namespace {

using celeriac::test::line_count;
using celeriac::test::run_celeriac;
using celeriac::test::ScratchConfig;

const std::map<std::string, std::string> kNoServers{
    {"CELERIAC_BROKER_URL", "amqp://guest:guest@127.0.0.1:1/%2f"},
    {"CELERIAC_DATABASE_URL", "postgresql://celeriac@127.0.0.1:1/celeriac"}};

std::map<std::string, std::string> with(std::map<std::string, std::string> env,
                                        const std::string& key, const std::string& value) {
  env[key] = value;
  return env;
}

// A usage error: exit 2, nothing on stdout, the error and the usage line on stderr.
void check_usage_error(const std::vector<std::string>& args, const std::string& mentions) {
  CAPTURE(args);
  const auto r = run_celeriac(args, kNoServers);
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find(mentions) != std::string::npos);
  CHECK(r.err.find("usage: celeriac") != std::string::npos);
  CHECK(line_count(r.err) == 2);
}

} // namespace

TEST_CASE("usage errors exit 2 with a usage line") {
  check_usage_error({}, "no command given");
  check_usage_error({"frobnicate"}, "unknown command 'frobnicate'");
  check_usage_error({"inspect"}, "celeriac inspect: missing subcommand");
  check_usage_error({"inspect", "nothing"}, "unknown command 'inspect nothing'");
  check_usage_error({"enqueue"}, "missing TASK");
  check_usage_error({"enqueue", "demo.add", "--bogus"}, "bogus");
  check_usage_error({"status"}, "missing ID");
  check_usage_error({"status", "a", "b"}, "unexpected argument 'b'");
  check_usage_error({"migrate", "extra"}, "unexpected argument 'extra'");
  check_usage_error({"enqueue", "demo.add", "--timeout", "5"}, "--timeout needs --wait");
  check_usage_error({"enqueue", "demo.add", "--queue"}, "queue");
}

TEST_CASE("every command has --help, exit 0") {
  const std::vector<std::vector<std::string>> commands{{"enqueue"},
                                                       {"result"},
                                                       {"status"},
                                                       {"revoke"},
                                                       {"inspect", "queues"},
                                                       {"inspect", "workers"},
                                                       {"purge"},
                                                       {"migrate"},
                                                       {"config", "check"}};
  for (const auto& command : commands) {
    CAPTURE(command);
    auto args = command;
    args.push_back("--help");
    const auto r = run_celeriac(args, kNoServers);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
    CHECK(r.out.find("Usage:") != std::string::npos);
    CHECK(r.out.find("--config PATH") != std::string::npos);
  }
  const auto overview = run_celeriac({"--help"}, kNoServers);
  CHECK(overview.code == 0);
  for (const char* name : {"enqueue TASK", "result ID", "status ID", "revoke ID", "inspect queues",
                           "inspect workers", "purge QUEUE", "migrate", "config check"}) {
    CHECK(overview.out.find(name) != std::string::npos);
  }
  CHECK(run_celeriac({"--version"}, kNoServers).out.starts_with("celeriac "));
}

TEST_CASE("bad enqueue input exits 2 with one line naming the problem") {
  ScratchConfig config("[queues.default]\n[queues.low]\n");
  const auto env = with(kNoServers, "CELERIAC_CONFIG", config.file.string());
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--args", "[1,"}, "--args: malformed JSON"},
      {{"--args", "{\"a\":1}"}, "args: must be a JSON array"},
      {{"--kwargs", "{\"a\":"}, "--kwargs: malformed JSON"},
      {{"--kwargs", "[1]"}, "kwargs: must be a JSON object"},
      {{"--queue", "nope"}, "queue: 'nope' is not a configured queue (configured: default, low)"},
      {{"--priority", "12"}, "priority: must be between 0 and 9, got 12"},
      {{"--priority", "high"}, "--priority: must be an integer, got 'high'"},
      {{"--eta", "2020-01-01T00:00:00Z", "--countdown", "10"}, "countdown: give countdown or eta"},
      {{"--countdown", "soon"}, "--countdown: expected seconds or a duration"},
      {{"--eta", "tomorrow"}, "--eta: expected an ISO 8601 time"},
      {{"--expires", "2020-01-01T00:00:00Z"}, "expires: 2020-01-01T00:00:00"},
      {{"--expires", "whenever"}, "--expires: expected a duration"},
      {{"--id", "42"}, "--id: '42' is not a job id"},
      {{"--soft-time-limit", "10s", "--hard-time-limit", "5s"}, "soft_time_limit"},
      {{"--wait", "--timeout", "x"}, "--timeout: expected seconds or a duration"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args{"enqueue", "demo.add"};
    args.insert(args.end(), flags.begin(), flags.end());
    CAPTURE(args);
    const auto r = run_celeriac(args, env);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(line_count(r.err) == 1);
    CHECK_MESSAGE(r.err.find("celeriac enqueue: " + message) != std::string::npos, r.err);
  }
  const auto bad_task = run_celeriac({"enqueue", "two words"}, env);
  CHECK(bad_task.code == 2);
  CHECK(bad_task.err.find("task:") != std::string::npos);
}

TEST_CASE("bad job ids and queue names exit 2 before any connection") {
  const auto status = run_celeriac({"status", "not-a-uuid"}, kNoServers);
  CHECK(status.code == 2);
  CHECK(status.err ==
        "celeriac status: ID: 'not-a-uuid' is not a job id (a UUID such as "
        "2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f)\n");
  CHECK(run_celeriac({"result", "x"}, kNoServers).code == 2);
  CHECK(run_celeriac({"revoke", "x"}, kNoServers).code == 2);
  const auto purge = run_celeriac({"purge", "elsewhere", "--yes"}, kNoServers);
  CHECK(purge.code == 2);
  CHECK(purge.err.find("'elsewhere' is not a configured queue") != std::string::npos);
  const auto unconfirmed = run_celeriac({"purge", "default"}, kNoServers);
  CHECK(unconfirmed.code == 2);
  CHECK(unconfirmed.err.find("refusing to purge 'default' without --yes") != std::string::npos);
}

TEST_CASE("a server that cannot be reached is exit 1") {
  const auto r = run_celeriac({"inspect", "queues"}, kNoServers);
  CHECK(r.code == 1);
  CHECK(line_count(r.err) == 1);
  CHECK(r.err.find("127.0.0.1:1") != std::string::npos);
  const auto db = run_celeriac({"migrate"}, kNoServers);
  CHECK(db.code == 1);
  CHECK(db.err.find("cannot connect to the database") != std::string::npos);
}

TEST_CASE("config check prints the effective configuration with secrets masked") {
  ScratchConfig config(R"([broker]
url = "amqp://file:filepass@filehost:5672/%2f"
[database]
schema = "from_file"
[queues.high]
[queues.low]
)");
  auto env = with(kNoServers, "CELERIAC_CONFIG", config.file.string());
  env["CELERIAC_DATABASE_URL"] = "postgresql://app:s3cret@db.example:5432/jobs";
  const auto r = run_celeriac({"config", "check", "--set", "worker.concurrency=3"}, env);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("s3cret") == std::string::npos);
  const auto json = nlohmann::json::parse(r.out);
  CHECK(json["broker"]["url"] == "amqp://guest:****@127.0.0.1:1/%2f"); // the variable wins
  CHECK(json["database"]["url"] == "postgresql://app:****@db.example:5432/jobs");
  CHECK(json["database"]["schema"] == "from_file");
  CHECK(json["worker"]["concurrency"] == 3);
  CHECK(json["queues"].size() == 2);
}

TEST_CASE("config check names the bad key and its line, exit 2") {
  ScratchConfig config("[queues.high]\nmax_prority = 3\n");
  const auto r = run_celeriac({"config", "check", "--config", config.file.string()}, kNoServers);
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "celeriac config check: line 2: queues.high.max_prority: unknown key (did you "
        "mean \"max_priority\"?)\n");
  const auto bad_set = run_celeriac({"config", "check", "--set", "worker.concurrency"}, kNoServers);
  CHECK(bad_set.code == 2);
  CHECK(bad_set.err.find("--set: expected KEY=VALUE") != std::string::npos);
  const auto bad_url =
      run_celeriac({"config", "check"}, with(kNoServers, "CELERIAC_BROKER_URL", "http://nowhere"));
  CHECK(bad_url.code == 2);
  CHECK(bad_url.err.find("CELERIAC_BROKER_URL: must be a URL") != std::string::npos);
}

TEST_CASE("where the configuration file comes from") {
  ScratchConfig config("[queues.from_cwd]\n");
  // ./celeriac.toml of the working directory, when nothing names a file.
  auto r = run_celeriac({"config", "check"}, kNoServers, config.dir.string());
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["queues"].contains("from_cwd"));
  // No file at all: the defaults and the environment.
  ScratchConfig empty("");
  std::filesystem::remove(empty.file);
  r = run_celeriac({"config", "check"}, kNoServers, empty.dir.string());
  REQUIRE(r.code == 0);
  CHECK(nlohmann::json::parse(r.out)["queues"].contains("default"));
  // A file named by --config or $CELERIAC_CONFIG must exist.
  const auto missing = (empty.dir / "missing.toml").string();
  r = run_celeriac({"config", "check", "--config", missing}, kNoServers);
  CHECK(r.code == 2);
  CHECK(r.err.find("cannot read '" + missing + "'") != std::string::npos);
  r = run_celeriac({"config", "check"}, with(kNoServers, "CELERIAC_CONFIG", missing));
  CHECK(r.code == 2);
  // --config wins over $CELERIAC_CONFIG.
  r = run_celeriac({"config", "check", "--config", config.file.string()},
                   with(kNoServers, "CELERIAC_CONFIG", missing));
  CHECK(r.code == 0);
}
