// The config's [tasks] over what a task's code says: only the keys the file
// sets change, the most specific entry wins, and entries with a command
// become external-command tasks.
#include "celeriac/worker/task_config.hpp"

#include <doctest/doctest.h>

#include "celeriac/core/error.hpp"
#include "celeriac/worker/task_outcome.hpp"
#include "numbered_job.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kQueues = "[queues.high]\n[queues.default]\n[queues.low]\n";

nlohmann::json nothing(TaskContext&) {
  return nullptr;
}

// A task whose code says queue "low", priority 5, limits, a fixed backoff and a rate.
TaskDefaults code_defaults() {
  TaskDefaults d;
  d.queue = "low";
  d.priority = 5;
  d.soft_time_limit = 10s;
  d.hard_time_limit = 20s;
  RetryPolicy retry;
  retry.max_retries = 8;
  retry.backoff = FixedBackoff{7s};
  d.retry = retry;
  d.max_redeliveries = 1;
  d.rate_limit = RateLimit{5, 1s};
  return d;
}

TaskRegistry registry_with(const std::string& name) {
  TaskRegistry registry;
  registry.add(name, nothing, code_defaults());
  return registry;
}

const TaskDefaults& defaults_after(const std::string& toml, const std::string& name,
                                   TaskRegistry& registry) {
  apply_task_config(parse_config(std::string(kQueues) + toml, "t"), registry);
  return registry.find(name)->defaults;
}

} // namespace

TEST_CASE("without [tasks] the code's defaults stand") {
  TaskRegistry registry = registry_with("jira.sync");
  const TaskDefaults& d = defaults_after("", "jira.sync", registry);
  const TaskDefaults code = code_defaults();
  CHECK(d.queue == code.queue);
  CHECK(d.priority == code.priority);
  CHECK(d.soft_time_limit == code.soft_time_limit);
  CHECK(d.hard_time_limit == code.hard_time_limit);
  CHECK(d.retry == code.retry);
  CHECK(d.max_redeliveries == code.max_redeliveries);
  CHECK(d.rate_limit == code.rate_limit);
}

TEST_CASE("what the file sets wins; what it does not set stays the code's") {
  TaskRegistry registry = registry_with("jira.sync");
  const TaskDefaults& d = defaults_after(R"(
[tasks."jira.sync"]
queue = "high"
hard_time_limit = "90s"
rate_limit = "10/m"
retry = { max_retries = 2 }
)",
                                         "jira.sync", registry);
  CHECK(d.queue == "high");
  CHECK(d.hard_time_limit == 90s);
  CHECK(d.rate_limit == RateLimit{10, 1min});
  RetryPolicy two; // the file's retry table replaces the code's policy whole
  two.max_retries = 2;
  CHECK(d.retry == two);
  CHECK(d.priority == 5);                 // the code's
  CHECK(d.soft_time_limit == 10s);        // the code's
  CHECK(d.max_redeliveries == 1);         // the code's
  CHECK(registry.find("jira.sync")->run); // the function is untouched
}

TEST_CASE("patterns apply key by key, the most specific first") {
  TaskRegistry registry;
  registry.add("jira.sync", nothing, code_defaults());
  registry.add("reports.build", nothing, code_defaults());
  apply_task_config(parse_config(std::string(kQueues) + R"(
[tasks."*"]
max_redeliveries = 4
priority = 1
[tasks."jira.*"]
priority = 3
soft_time_limit = "5s"
)",
                                 "t"),
                    registry);
  const TaskDefaults& sync = registry.find("jira.sync")->defaults;
  CHECK(sync.priority == 3);
  CHECK(sync.soft_time_limit == 5s);
  CHECK(sync.max_redeliveries == 4);
  CHECK(sync.queue == "low");
  const TaskDefaults& build = registry.find("reports.build")->defaults;
  CHECK(build.priority == 1);
  CHECK(build.soft_time_limit == 10s);
  CHECK(build.max_redeliveries == 4);
}

TEST_CASE("an entry with a command registers an external task with the merged settings") {
  TaskRegistry registry;
  const Config config = parse_config(std::string(kQueues) + R"(
[broker]
max_body_bytes = 1000
[tasks."*"]
max_redeliveries = 6
[tasks."ext.hello"]
command = ["/bin/sh", "-c", "echo '\"hello\"'"]
queue = "high"
hard_time_limit = "30s"
[tasks."ext.flood"]
command = ["/bin/sh", "-c", "head -c 5000 /dev/zero"]
)",
                                     "t");
  apply_task_config(config, registry);
  const TaskDefinition* hello = registry.find("ext.hello");
  REQUIRE(hello != nullptr);
  CHECK(hello->defaults.queue == "high");
  CHECK(hello->defaults.hard_time_limit == 30s);
  CHECK(hello->defaults.max_redeliveries == 6);
  test::JobNumbers numbers;
  const Job job = numbers("ext.hello", nlohmann::json::array());
  TaskContext context(job);
  CHECK(run_task(*hello, context) == TaskOutcome{Succeeded{"hello"}});

  // broker.max_body_bytes caps the command's stdout.
  const Job flood_job = numbers("ext.flood", nlohmann::json::array());
  TaskContext flood_context(flood_job);
  const TaskOutcome flood = run_task(*registry.find("ext.flood"), flood_context);
  REQUIRE(std::holds_alternative<Failed>(flood));
  CHECK(std::get<Failed>(flood).message.find("more than 1000 bytes") != std::string::npos);
}

TEST_CASE("an external task without a queue goes to the config's default queue") {
  TaskRegistry registry;
  apply_task_config(parse_config("[queues.first]\n[queues.second]\n[tasks.hello]\n"
                                 "command = [\"/bin/true\"]\n",
                                 "t"),
                    registry);
  CHECK(registry.find("hello")->defaults.queue == "first");
}

TEST_CASE("a command for a task the code already implements is refused, naming the key") {
  TaskRegistry registry = registry_with("jira.sync");
  try {
    apply_task_config(
        parse_config(std::string(kQueues) + "[tasks.\"jira.sync\"]\ncommand = [\"/bin/true\"]\n",
                     "t"),
        registry);
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("tasks.\"jira.sync\".command") != std::string::npos);
    CHECK(std::string(e.what()).find("already implements the task in C++") != std::string::npos);
  }
}

TEST_CASE("set_defaults replaces one task's defaults and refuses an unknown name") {
  TaskRegistry registry = registry_with("a.b");
  TaskDefaults d;
  d.queue = "high";
  registry.set_defaults("a.b", d);
  CHECK(registry.find("a.b")->defaults.queue == "high");
  CHECK_THROWS_AS(registry.set_defaults("nope", d), InvalidInput);
}
