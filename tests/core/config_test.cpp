#include "celeriac/core/config.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

std::string override_error(std::string_view key, std::string_view value) {
  Config config;
  try {
    apply_override(config, key, value);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "no error";
}

std::string example_text() {
  const auto path =
      std::filesystem::path(__FILE__).parent_path() / "../../config/celeriac.example.toml";
  std::ifstream file(path);
  REQUIRE_MESSAGE(file.good(), "cannot read ", path.string());
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

} // namespace

TEST_CASE("an empty file gives the documented defaults") {
  const Config config = parse_config("", "empty.toml");
  CHECK(config == Config{});
  CHECK(config.broker.url == "amqp://guest:guest@localhost:5672/%2f");
  CHECK_FALSE(config.broker.management_url);
  CHECK(config.broker.heartbeat == 30s);
  CHECK(config.broker.confirm_window == 1000);
  CHECK(config.broker.max_body_bytes == 1048576);
  CHECK(config.broker.tls.verify_peer);
  CHECK(config.broker.tls.verify_hostname);
  CHECK(config.database.url == "postgresql://localhost/celeriac");
  CHECK(config.database.schema == "celeriac");
  CHECK(config.database.result_retention == std::chrono::days(7));
  CHECK_FALSE(config.database.track_pending);
  REQUIRE(config.queues.size() == 1);
  CHECK(config.queues[0].name == "default");
  CHECK(config.queues[0].type == QueueType::Classic);
  CHECK(config.queues[0].max_priority == 9);
  CHECK(config.worker.queues == std::vector<std::string>{"default"});
  CHECK(config.worker.concurrency == 0);
  CHECK(config.worker.pool == PoolKind::Process);
  CHECK(config.worker.prefetch == 0);
  CHECK(config.worker.shutdown_timeout == 60s);
  CHECK(config.worker.log_format == LogFormat::Text);
  CHECK_FALSE(config.scheduler.lock_key.has_value());
  // Derived from the schema, so two schemas' schedulers elect apart.
  Config other = config;
  other.database.schema = "other";
  CHECK(celeriac::scheduler_lock_key(config) != celeriac::scheduler_lock_key(other));
  CHECK(celeriac::scheduler_lock_key(config) == celeriac::scheduler_lock_key(config));
  CHECK(config.tasks.empty());
  CHECK(config.schedules.empty());
  CHECK(config.pools.empty());
  CHECK(config.alerts.empty());
}

TEST_CASE("sections present but empty take their defaults") {
  const Config config = parse_config(R"(
[queues.q]
[tasks."t"]
[[schedules]]
name = "s"
every = 60
task = "t"
[pools.p]
[[alerts]]
name = "a"
kind = "failure_rate"
critical = 0.5
)",
                                     "test.toml");
  const QueueConfig& queue = config.queues.at(0);
  CHECK(queue.max_priority == 9);
  CHECK_FALSE(queue.time_to_process);
  CHECK_FALSE(queue.depth_warning);
  const TaskConfig& task = config.tasks.at(0);
  CHECK(task.queue == "q"); // no "default" queue: the first one
  CHECK(task.priority == 0);
  CHECK(task.max_redeliveries == 3);
  CHECK(task.retry == RetryPolicy{});
  CHECK(task.command.empty());
  const ScheduleConfig& schedule = config.schedules.at(0);
  CHECK(schedule.every == 60s);
  CHECK(schedule.tz == "UTC");
  CHECK(schedule.args == nlohmann::json::array());
  CHECK(schedule.kwargs == nlohmann::json::object());
  CHECK(schedule.catch_up == CatchUp::Skip);
  CHECK(schedule.lookback == 1h);
  CHECK(schedule.jitter == 0s);
  CHECK(schedule.enabled);
  const PoolConfig& pool = config.pools.at(0);
  CHECK(pool.queues == std::vector<std::string>{"q"});
  CHECK(pool.min_workers == 1);
  CHECK(pool.max_workers == 10);
  CHECK(pool.target_per_worker == 100);
  CHECK(pool.scale_up_cooldown == 1min);
  CHECK(pool.scale_down_cooldown == 5min);
  CHECK(pool.max_step == 2);
  const AlertConfig& alert = config.alerts.at(0);
  CHECK(alert.for_duration == 1min);
  CHECK_FALSE(alert.warning);
  CHECK(alert.critical == 0.5);
}

TEST_CASE("queues keep the file's order, and the worker consumes them in it") {
  const Config config = parse_config("[queues.zeta]\n[queues.alpha]\ntype = \"quorum\"\n", "t");
  REQUIRE(config.queues.size() == 2);
  CHECK(config.queues[0].name == "zeta");
  CHECK(config.queues[1].name == "alpha");
  CHECK_FALSE(config.queues[1].max_priority);
  CHECK(config.worker.queues == std::vector<std::string>{"zeta", "alpha"});
}

TEST_CASE("durations and sizes take several forms") {
  const Config config = parse_config(R"(
[broker]
heartbeat = 45
max_body_bytes = "2MiB"
[database]
result_retention = 1.5
[worker]
shutdown_timeout = "1h30m"
max_memory_per_child = 4096
)",
                                     "t");
  CHECK(config.broker.heartbeat == 45s);
  CHECK(config.broker.max_body_bytes == 2 * 1024 * 1024);
  CHECK(config.database.result_retention == 1500ms);
  CHECK(config.worker.shutdown_timeout == 90min);
  CHECK(config.worker.max_memory_per_child == 4096);
  CHECK(parse_config("[broker]\nmax_body_bytes = \"1GB\"", "t").broker.max_body_bytes ==
        1000000000);
}

TEST_CASE("errors name the key and the line") {
  CHECK(error_of("[queues.high]\nmax_priority = 300\n") ==
        "line 2: queues.high.max_priority: must be between 1 and 255, got 300");
  CHECK(error_of("[queues.high]\nmax_prority = 5\n") ==
        "line 2: queues.high.max_prority: unknown key (did you mean \"max_priority\"?)");
  CHECK(error_of("\n[brokers]\nurl = \"amqp://x\"\n") ==
        "line 2: brokers: unknown key (did you mean \"broker\"?)");
  CHECK(error_of("[worker]\nflavour = 1\n") == "line 2: worker.flavour: unknown key");
  CHECK(error_of("[broker.tls]\nverify_peer = \"yes\"\n") ==
        "line 2: broker.tls.verify_peer: must be true or false, got string");
  CHECK(error_of("[broker]\nconfirm_window = \"many\"\n") ==
        "line 2: broker.confirm_window: must be a positive integer, got string");
  CHECK(
      error_of("[broker]\nheartbeat = true\n") ==
      "line 2: broker.heartbeat: must be a duration such as \"30s\", \"5m\" or \"1h\" or a number "
      "of seconds, got boolean");
  CHECK(error_of("[broker]\nheartbeat = \"soon\"\n") ==
        "line 2: broker.heartbeat: must be a duration such as \"30s\", \"5m\" or \"1h\", got "
        "\"soon\"");
  CHECK(error_of("queues = 5\n") == "line 1: queues: must be a table, got integer");
  CHECK(error_of("[database]\nschema = \"Bad-Name\"\n") ==
        "line 2: database.schema: must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), got "
        "\"Bad-Name\"");
  CHECK(error_of("[queues.\"a b\"]\n") ==
        "line 1: queues.\"a b\": queue name may contain only letters, digits, '.', '_' and '-', "
        "got \"a b\"");
}

TEST_CASE("ConfigError carries key and line apart from the message") {
  try {
    parse_config("\n\n[tasks.\"jira.sync\"]\nretry = { factor = 0.5 }\n", "t");
    FAIL("no error");
  } catch (const ConfigError& error) {
    CHECK(error.field() == "tasks.\"jira.sync\".retry.factor");
    CHECK(error.line() == 4);
    CHECK(error.reason() == "must be at least 1, got 0.5");
  }
}

TEST_CASE("TOML syntax errors become ConfigErrors naming the source and line") {
  try {
    parse_config("[broker]\nurl = \"amqp://x\"\nheartbeat = \n", "celeriac.toml");
    FAIL("no error");
  } catch (const ConfigError& error) {
    CHECK(error.field() == "celeriac.toml");
    CHECK(error.line() == 3);
  }
}

TEST_CASE("over-deep nesting is refused before parsing") {
  std::string dotted = "a";
  for (int i = 0; i < 5000; ++i)
    dotted += ".a";
  CHECK(error_of(dotted + " = 1") ==
        "line 1: test.toml: tables, arrays and dotted keys nested deeper than 32 levels");
  const std::string arrays = "x = " + std::string(40, '[') + std::string(40, ']');
  CHECK(error_of(arrays).find("nested deeper than 32 levels") != std::string::npos);
  std::string twenty;
  for (int i = 0; i < 20; ++i)
    twenty += ".a";
  CHECK(error_of("x" + twenty + " = { y" + twenty + " = 1 }").find("nested deeper") !=
        std::string::npos);
  CHECK(error_of("[[schedules]]\nname = \"s\"\nevery = 1\ntask = \"t\"\nkwargs = { a" + twenty +
                 " = [[{ b = 1 }]] }\n") == "no error");
  // Dots and brackets inside strings and comments do not count.
  CHECK(error_of("# " + dotted + "\n[tasks.\"" + std::string(100, '.') + "x\"]\n") == "no error");
  CHECK(error_of("[[schedules]]\nname = \"" + std::string(60, '[') +
                 "\"\nevery = \"1m\"\ntask = \"t\"\n") == "no error");
}

TEST_CASE("queue checks") {
  CHECK(error_of("[queues.low]\ntype = \"quorum\"\nmax_priority = 5\n") ==
        "line 3: queues.low.max_priority: quorum queues have no message priorities in RabbitMQ: "
        "remove max_priority or use type = \"classic\"");
  CHECK(error_of("[queues.q]\ntype = \"lazy\"\n") ==
        "line 2: queues.q.type: must be \"classic\" or \"quorum\", got \"lazy\"");
  CHECK(error_of("[queues.q]\ndepth_warning = 10\ndepth_critical = 5\n") ==
        "line 3: queues.q.depth_critical: must be at least depth_warning (10), got 5");
  CHECK(error_of("[queues.q]\ntime_to_process = \"0s\"\n") ==
        "line 2: queues.q.time_to_process: must be longer than 0s");
  CHECK(error_of("[queues." + std::string(200, 'q') + "]\n").find("at most 199 bytes") !=
        std::string::npos);
}

TEST_CASE("schedule checks") {
  const std::string head = "[[schedules]]\nname = \"s\"\ntask = \"t\"\n";
  CHECK(error_of(head + "cron = \"* * * * *\"\nevery = \"1m\"\n") ==
        "line 5: schedules[0].every: cannot be combined with cron: give exactly one of them");
  CHECK(error_of(head) == "line 1: schedules[0]: needs exactly one of cron or every");
  CHECK(error_of("[[schedules]]\nname = \"s\"\nevery = 5\n") ==
        "line 1: schedules[0].task: is required");
  CHECK(error_of(head + "every = 5\n" + head + "every = 6\n") ==
        "line 6: schedules[1].name: \"s\" is already the name of another schedule");
  CHECK(error_of(head + "every = 5\ncatch_up = \"never\"\n") ==
        "line 5: schedules[0].catch_up: must be \"skip\", \"once\" or \"all\", got \"never\"");
  CHECK(error_of(head + "every = 5\ntz = \"../etc/passwd\"\n") ==
        "line 5: schedules[0].tz: must be an IANA time zone name such as \"Europe/Berlin\", got "
        "\"../etc/passwd\"");
  SUBCASE("cron and zone are checked by the scheduler's parser") {
    CHECK(error_of(head + "cron = \"61 * * * *\"\n") ==
          "line 4: schedules[0].cron: minute field '61' out of range 0-59");
    CHECK(error_of(head + "cron = \"0 3 * * *\"\ntz = \"Mars/Base\"\n") ==
          "line 5: schedules[0].tz: unknown time zone 'Mars/Base'");
    CHECK(parse_config(head + "cron = \"30 2 * * *\"\ntz = \"Europe/Berlin\"\n", "t")
              .schedules.at(0)
              .tz == "Europe/Berlin");
  }
  CHECK(error_of(head + "every = 5\nqueue = \"q\"\n") ==
        "line 5: schedules[0].queue: names queue \"q\", which is not configured under [queues]");
  CHECK(error_of(head + "every = 5\nargs = { a = 1 }\n") ==
        "line 5: schedules[0].args: must be an array, got table");
  CHECK(error_of("[schedules]\n") ==
        "line 1: schedules: must be an array of tables ([[schedules]]), got table");
  const Config config =
      parse_config(head +
                       "cron = \"0 3 * * *\"\nargs = [1, \"two\", 1979-05-27T07:32:00Z]\n"
                       "kwargs = { nested = { list = [true] } }\n",
                   "t");
  const ScheduleConfig& schedule = config.schedules.at(0);
  CHECK(schedule.cron == "0 3 * * *");
  CHECK(schedule.args == nlohmann::json::parse(R"([1, "two", "1979-05-27T07:32:00Z"])"));
  CHECK(schedule.kwargs == nlohmann::json::parse(R"({"nested": {"list": [true]}})"));
}

TEST_CASE("worker, pool and alert checks") {
  CHECK(error_of("[worker]\nqueues = [\"default\", \"missing\"]\n") ==
        "line 2: worker.queues: names queue \"missing\", which is not configured under [queues]");
  CHECK(error_of("[worker]\nconcurrency = 0\n") ==
        "line 2: worker.concurrency: must be a positive integer, got 0");
  CHECK(error_of("[worker]\npool = \"fork\"\n") ==
        "line 2: worker.pool: must be \"process\" or \"thread\", got \"fork\"");
  CHECK(error_of("[worker]\nhttp = \"9540\"\n") ==
        "line 2: worker.http: must be \"host:port\" with a port from 1 to 65535, got \"9540\"");
  CHECK(error_of("[pools.p]\nmin_workers = 5\nmax_workers = 2\n") ==
        "line 3: pools.p.max_workers: must be at least min_workers (5), got 2");
  CHECK(error_of("[[alerts]]\nname = \"a\"\nwarning = 1\n") ==
        "line 1: alerts[0].kind: is required: \"queue_depth\", \"failure_rate\" or \"latency\"");
  CHECK(error_of("[[alerts]]\nname = \"a\"\nkind = \"latency\"\nwarning = 1\n") ==
        "line 1: alerts[0].queue: is required for kind = \"latency\"");
  CHECK(error_of("[[alerts]]\nname = \"a\"\nkind = \"failure_rate\"\ncritical = 1.5\n") ==
        "line 4: alerts[0].critical: must be between 0 and 1, got 1.5");
  CHECK(error_of("[[alerts]]\nname = \"a\"\nkind = \"queue_depth\"\nqueue = \"default\"\n"
                 "warning = 10\ncritical = 5\n") ==
        "line 6: alerts[0].critical: must be at least warning (10), got 5");
  CHECK(error_of("[[alerts]]\nname = \"a\"\nkind = \"queue_depth\"\nqueue = \"default\"\n") ==
        "line 1: alerts[0]: needs warning or critical, here or as its queue's depth_warning or "
        "depth_critical");
  CHECK(error_of("[broker.tls]\nclient_cert = \"c.pem\"\n") ==
        "line 2: broker.tls.client_key: is required with the other half of the client certificate");
}

TEST_CASE("a bad URL is reported without its password") {
  const std::string message = error_of("[broker]\nurl = \"http://user:hunter2@host/\"\n");
  CHECK(
      message ==
      "line 2: broker.url: must be a URL starting with amqp:// or amqps:// and without spaces, got "
      "\"http://user:****@host/\"");
}

TEST_CASE("environment variables override the file, overrides override both") {
  Config config =
      parse_config("[broker]\nurl = \"amqp://file/\"\n[worker]\nconcurrency = 2\n", "t");
  apply_environment(config, {{"CELERIAC_BROKER_URL", "amqp://env/"},
                             {"CELERIAC_WORKER_CONCURRENCY", "4"},
                             {"CELERIAC_WORKER_POOL", "thread"},
                             {"CELERIAC_LOG_FORMAT", "json"},
                             {"CELERIAC_DATABASE_SCHEMA", ""}, // empty counts as unset
                             {"CELERIAC_CONFIG", "/etc/celeriac.toml"},
                             {"HOME", "/root"}});
  CHECK(config.broker.url == "amqp://env/");
  CHECK(config.worker.concurrency == 4);
  CHECK(config.worker.pool == PoolKind::Thread);
  CHECK(config.worker.log_format == LogFormat::Json);
  CHECK(config.database.schema == "celeriac");
  apply_override(config, "broker.url", "amqps://flag/");
  apply_override(config, "worker.concurrency", "8");
  apply_override(config, "worker.shutdown_timeout", "2m");
  apply_override(config, "broker.tls.verify_peer", "no");
  apply_override(config, "worker.queues", "default");
  CHECK(config.broker.url == "amqps://flag/");
  CHECK(config.worker.concurrency == 8);
  CHECK(config.worker.shutdown_timeout == 2min);
  CHECK_FALSE(config.broker.tls.verify_peer);
  CHECK(environment_variables().size() == 7);
}

TEST_CASE("bad environment values name the variable") {
  Config config;
  const auto error_for = [&](const char* variable, const char* value) -> std::string {
    try {
      apply_environment(config, {{variable, value}});
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "no error";
  };
  CHECK(error_for("CELERIAC_WORKER_CONCURRENCY", "x") ==
        "CELERIAC_WORKER_CONCURRENCY: must be a positive integer, got 'x'");
  CHECK(error_for("CELERIAC_DATABASE_SCHEMA", "drop table") ==
        "CELERIAC_DATABASE_SCHEMA: must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), got "
        "\"drop table\"");
  CHECK(error_for("CELERIAC_DATABASE_URL", "mysql://x").starts_with("CELERIAC_DATABASE_URL: "));
}

TEST_CASE("overrides parse by type and refuse unknown keys") {
  CHECK(override_error("worker.concurency", "2") ==
        "worker.concurency: unknown key (did you mean \"worker.concurrency\"?): overrides set the "
        "scalar keys of [broker], [broker.tls], [database], [worker] and [scheduler]");
  CHECK(override_error("queues.default.max_priority", "5")
            .starts_with("queues.default.max_priority: unknown key"));
  CHECK(override_error("broker.heartbeat", "often") ==
        "broker.heartbeat: must be a duration such as \"30s\", \"5m\" or \"1h\", got 'often'");
  CHECK(override_error("broker.tls.verify_hostname", "maybe") ==
        "broker.tls.verify_hostname: must be true or false, got 'maybe'");
  CHECK(override_error("worker.queues", "default,nope") ==
        "worker.queues: names queue \"nope\", which is not configured under [queues]");
  CHECK(override_error("worker.max_memory_per_child", "1 GiB") == "no error");
  CHECK(override_error("worker.prefetch", "-1") ==
        "worker.prefetch: must be a non-negative integer, got '-1'");
  CHECK(override_error("scheduler.lock_key", "-42") == "no error");
}

TEST_CASE("redact_url hides the password and secret query values only") {
  CHECK(redact_url("amqp://guest:guest@host:5672/%2f") == "amqp://guest:****@host:5672/%2f");
  CHECK(redact_url("amqp://guest@host/") == "amqp://guest@host/");
  CHECK(redact_url("amqp://host") == "amqp://host");
  CHECK(redact_url("postgresql://u:p@db/x?sslmode=require&password=p2#f") ==
        "postgresql://u:****@db/x?sslmode=require&password=****#f");
  CHECK(redact_url("https://h/hook?token=abc") == "https://h/hook?token=****");
  CHECK(redact_url("not a url") == "not a url");
}

TEST_CASE("to_json shows the effective configuration, redacted unless asked not to") {
  const Config config = parse_config(R"(
[broker]
url = "amqp://app:s3cret@rabbit:5672/%2f"
management_url = "http://admin:pw@rabbit:15672"
[database]
url = "postgresql://app:dbpw@db/celeriac"
[[schedules]]
name = "s"
every = "5m"
task = "t"
kwargs = { password = "x", user = "u" }
)",
                                     "t");
  const nlohmann::json redacted = to_json(config);
  CHECK(redacted["broker"]["url"] == "amqp://app:****@rabbit:5672/%2f");
  CHECK(redacted["broker"]["management_url"] == "http://admin:****@rabbit:15672");
  CHECK(redacted["database"]["url"] == "postgresql://app:****@db/celeriac");
  CHECK(redacted["schedules"][0]["kwargs"]["password"] == "****");
  CHECK(redacted["schedules"][0]["kwargs"]["user"] == "u");
  CHECK(redacted["schedules"][0]["every"] == "5m");
  CHECK(redacted["broker"]["heartbeat"] == "30s");
  CHECK(redacted.dump().find("s3cret") == std::string::npos);
  const nlohmann::json plain = to_json(config, false);
  CHECK(plain["broker"]["url"] == "amqp://app:s3cret@rabbit:5672/%2f");
  CHECK(plain["schedules"][0]["kwargs"]["password"] == "x");
}

TEST_CASE("the example configuration parses with the values it promises") {
  const Config config = parse_config(example_text(), "celeriac.example.toml");
  REQUIRE(config.queues.size() == 3);
  CHECK(config.worker.queues == std::vector<std::string>{"high", "default", "low"});
  const QueueConfig& high = *config.queue("high");
  CHECK(high.time_to_process == 1min);
  CHECK(high.depth_warning == 50);
  CHECK(high.depth_critical == 100);
  CHECK(config.queue("default")->time_to_process == 10min);
  CHECK(config.queue("low")->depth_critical == 5000);

  const TaskConfig webhook = config.task("jira.webhook");
  CHECK(webhook.queue == "high");
  CHECK(webhook.retry.max_retries == 5);
  CHECK(webhook.retry.max_delay == 1800s);
  CHECK(webhook.retry.jitter == Jitter::Full);
  const TaskConfig sync = config.task("jira.sync");
  CHECK(sync.queue == "default");
  CHECK(sync.retry.max_retries == 3);
  CHECK(sync.retry.backoff == Backoff{ExponentialBackoff{60s, 2.0}});
  CHECK(config.task("workqueue.generate").queue == "default");
  const TaskConfig reports = config.task("reports.generate");
  CHECK(reports.retry.max_retries == 2);
  CHECK(reports.retry.backoff == Backoff{FixedBackoff{300s}});
  CHECK(reports.soft_time_limit == 240s);
  CHECK(reports.hard_time_limit == 300s);
  CHECK(config.task("cleanup.expired_results").queue == "low");
  CHECK(config.task("cleanup.expired_results").pattern == "cleanup.*");

  REQUIRE(config.schedules.size() == 3);
  CHECK(config.schedules[0].task == "jira.sync");
  CHECK(config.schedules[0].every == 5min);
  CHECK(config.schedules[1].cron == "0 3 * * *");
  CHECK(config.schedules[1].tz == "Europe/Berlin");
  CHECK(config.schedules[2].task == "reports.generate");
  CHECK(config.pools.at(0).name == "default");
  CHECK(config.pools.at(0).max_workers == 20);
  const AlertConfig& backlog = config.alerts.at(0);
  CHECK(backlog.queue == "high");
  CHECK(backlog.warning == 50); // taken from the queue
  CHECK(backlog.critical == 100);
  CHECK(config.alerts.at(4).critical == 300); // "5m" of latency, in seconds
  CHECK(to_json(config)["broker"]["url"] == "amqp://guest:****@localhost:5672/%2f");
}
