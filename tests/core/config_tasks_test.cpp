// [tasks]: the checks of an entry, retry policies, and how Config::task()
// merges the entries that match a name (exact name, longer pattern, "*").
#include <doctest/doctest.h>

#include "celeriac/core/config.hpp"
#include "celeriac/core/error.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {

// The message of the ConfigError that parsing TEXT throws, or "no error".
std::string error_of(std::string_view text) {
  try {
    parse_config(text, "test.toml");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

constexpr std::string_view kTwoQueues = R"(
[queues.high]
[queues.default]
)";

} // namespace

TEST_CASE("task checks") {
  CHECK(error_of("[tasks.t]\nqueue = \"nowhere\"\n") ==
        "line 2: tasks.t.queue: names queue \"nowhere\", which is not configured under [queues]");
  CHECK(error_of("[tasks.t]\npriority = 12\n") ==
        "line 2: tasks.t.priority: must be between 0 and 9, got 12");
  CHECK(error_of("[tasks.t]\nsoft_time_limit = \"5m\"\nhard_time_limit = \"1m\"\n") ==
        "line 2: tasks.t.soft_time_limit: must not be longer than hard_time_limit (1m), got 5m");
  CHECK(error_of("[tasks.t]\nrate_limit = \"10/x\"\n") ==
        "line 2: tasks.t.rate_limit: must be a rate such as \"10/s\", \"100/m\" or \"1000/h\", got "
        "\"10/x\"");
  CHECK(error_of("[tasks.t]\nmax_redeliveries = -1\n") ==
        "line 2: tasks.t.max_redeliveries: must be a non-negative integer, got -1");
  CHECK(error_of("[tasks.\"a*b\"]\n") ==
        "line 1: tasks.\"a*b\": task name may use '*' only alone or as a final \".*\" "
        "(\"cleanup.*\")");
  CHECK(error_of("[tasks.t]\ncommand = []\n") ==
        "line 2: tasks.t.command: must be a non-empty array: the program, then its arguments");
  CHECK(error_of("[tasks.t]\ncommand = [\"a\", 1]\n") ==
        "line 2: tasks.t.command[1]: must be a string, got integer");
  CHECK(error_of("\n[tasks.jira.sync]\npriority = 1\n") ==
        "line 2: tasks.jira.sync: unknown key (a name with dots needs quotes: "
        "[tasks.\"jira.sync\"])");
  CHECK(error_of("[tasks.t]\nenv = { A = \"b\" }\n") ==
        "line 2: tasks.t.env: applies only to tasks with a command");
}

TEST_CASE("retry policies") {
  const Config config = parse_config(R"(
[tasks.fixed]
retry = { max_retries = 2, backoff = "fixed", delay = "300s", jitter = "none", retry_on = "all" }
[tasks.exp.retry]
base = "1m"
factor = 2
max = 1800
)",
                                     "t");
  CHECK(config.task("fixed").retry ==
        RetryPolicy{2, FixedBackoff{300s}, 1h, Jitter::None, RetryOn::All});
  CHECK(config.task("exp").retry ==
        RetryPolicy{3, ExponentialBackoff{60s, 2.0}, 30min, Jitter::Full, RetryOn::Transient});
  CHECK(error_of("[tasks.t.retry]\nbackoff = \"fixed\"\nfactor = 2\n") ==
        "line 3: tasks.t.retry.factor: applies only to backoff = \"exponential\"");
  CHECK(error_of("[tasks.t.retry]\ndelay = \"1m\"\n") ==
        "line 2: tasks.t.retry.delay: applies only to backoff = \"fixed\"");
  CHECK(error_of("[tasks.t.retry]\nbackoff = \"linear\"\n") ==
        "line 2: tasks.t.retry.backoff: must be \"fixed\" or \"exponential\", got \"linear\"");
  CHECK(error_of("[tasks.t.retry]\njitter = \"some\"\n") ==
        "line 2: tasks.t.retry.jitter: must be \"none\", \"full\" or \"equal\", got \"some\"");
  CHECK(error_of("[tasks.t]\nretry = 3\n") ==
        "line 2: tasks.t.retry: must be a table, got integer");
}

TEST_CASE("task lookup: exact name, then the longest pattern, then the defaults") {
  const Config config = parse_config(std::string(kTwoQueues) + R"(
[tasks."*"]
priority = 1
[tasks."jira.*"]
priority = 2
[tasks."jira.sync.*"]
priority = 3
[tasks."jira.sync"]
priority = 4
queue = "high"
rate_limit = "10/m"
)",
                                     "t");
  CHECK(config.task("jira.sync").priority == 4);
  CHECK(config.task("jira.sync").queue == "high");
  CHECK(config.task("jira.sync").rate_limit == RateLimit{10, 1min});
  CHECK(config.task("jira.sync.full").priority == 3);
  CHECK(config.task("jira.sync.full").pattern == "jira.sync.*");
  CHECK(config.task("jira.webhook").priority == 2);
  CHECK(config.task("jira").priority == 1); // "jira.*" needs something after the dot
  CHECK(config.task("reports").queue == "default");

  const Config plain = parse_config(kTwoQueues, "t");
  CHECK(plain.task("anything").pattern.empty());
  CHECK(plain.task("anything").queue == "default");
  CHECK(parse_config("[queues.first]\n[queues.second]\n", "t").task("x").queue == "first");
}

TEST_CASE("task lookup merges key by key: the most specific entry that sets a key wins") {
  const Config config = parse_config(std::string(kTwoQueues) + R"(
[tasks."*"]
max_redeliveries = 7
soft_time_limit = "30s"
[tasks."jira.*"]
priority = 2
retry = { max_retries = 9, backoff = "fixed", delay = "5s" }
[tasks."jira.sync"]
queue = "high"
retry = { max_retries = 1 }
)",
                                     "t");
  const TaskConfig sync = config.task("jira.sync");
  CHECK(sync.pattern == "jira.sync");
  CHECK(sync.queue == "high");
  CHECK(sync.priority == 2);          // from "jira.*"
  CHECK(sync.max_redeliveries == 7);  // from "*"
  CHECK(sync.soft_time_limit == 30s); // from "*"
  RetryPolicy whole_table;            // the exact entry's retry table counts whole: no fixed
  whole_table.max_retries = 1;        // backoff from "jira.*"
  CHECK(sync.retry == whole_table);
  CHECK(sync.keys == std::set<std::string, std::less<>>{"max_redeliveries", "priority", "queue",
                                                        "retry", "soft_time_limit"});
  CHECK_FALSE(sync.sets("hard_time_limit"));
  CHECK_FALSE(sync.sets("rate_limit"));

  const TaskConfig other = config.task("reports.build");
  CHECK(other.pattern == "*");
  CHECK(other.keys == std::set<std::string, std::less<>>{"max_redeliveries", "soft_time_limit"});
  CHECK(other.queue == "default");
  CHECK(parse_config(kTwoQueues, "t").task("x").keys.empty());
}

TEST_CASE("the order of entries in the file does not change which one wins") {
  const Config config = parse_config(std::string(kTwoQueues) + R"(
[tasks."jira.sync"]
priority = 4
[tasks."jira.*"]
priority = 2
queue = "high"
[tasks."*"]
priority = 1
)",
                                     "t");
  CHECK(config.task("jira.sync").priority == 4);
  CHECK(config.task("jira.sync").queue == "high");
  CHECK(config.task("jira.x").priority == 2);
  CHECK(config.task("x").priority == 1);
}

TEST_CASE("config check shows each [tasks] entry with only the keys it sets") {
  const Config config = parse_config(std::string(kTwoQueues) + R"(
[tasks."jira.*"]
priority = 2
[tasks."jira.sync"]
queue = "high"
rate_limit = "10/m"
)",
                                     "t");
  const nlohmann::json tasks = to_json(config)["tasks"];
  CHECK(tasks["jira.*"] == nlohmann::json{{"priority", 2}});
  CHECK(tasks["jira.sync"] == nlohmann::json{{"queue", "high"}, {"rate_limit", "10/m"}});
}

TEST_CASE("a command belongs to an exact task name") {
  CHECK(error_of("[tasks.\"jira.*\"]\ncommand = [\"/bin/true\"]\n") ==
        "line 2: tasks.\"jira.*\".command: applies only to an exact task name, not to a pattern");
  CHECK(error_of("[tasks.\"*\"]\ncommand = [\"/bin/true\"]\n") ==
        "line 2: tasks.\"*\".command: applies only to an exact task name, not to a pattern");
}

TEST_CASE("external command tasks") {
  const Config config = parse_config(R"(
[tasks."export.pdf"]
command = ["/usr/bin/render", "--pdf"]
env = { API_TOKEN = "s3cret", MODE = "fast" }
)",
                                     "t");
  const TaskConfig task = config.task("export.pdf");
  CHECK(task.command == std::vector<std::string>{"/usr/bin/render", "--pdf"});
  CHECK(task.env.at("MODE") == "fast");
  CHECK(task.keys == std::set<std::string, std::less<>>{"command", "env"});
  CHECK(to_json(config)["tasks"]["export.pdf"]["env"]["API_TOKEN"] == "****");
  CHECK(to_json(config)["tasks"]["export.pdf"]["env"]["MODE"] == "fast");
}
