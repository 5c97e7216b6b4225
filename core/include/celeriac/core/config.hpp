// celeriac.toml: the configuration every celeriac process reads, as plain
// values with their defaults, and the functions that build it.
//
// Pure: nothing here reads a file, the environment or a clock. The caller
// passes the file's text and the environment as a map. Precedence is
// file < environment < command line: call parse_config, then
// apply_environment, then apply_override once per flag.
//
// Errors: every rejection is a ConfigError (error.hpp), nothing else escapes.
// Its key is the dotted path of the offending value, with a segment quoted
// where it is not a bare TOML key and array positions counted from 0:
//   queues.high.max_priority   tasks."jira.sync".retry.factor   schedules[0].cron
// and its line is the 1-based line in the file when the value came from one.
// TOML syntax errors carry the source name as their key. Errors from the
// environment name the variable (CELERIAC_WORKER_CONCURRENCY) instead of the key.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "celeriac/core/job.hpp"
#include "celeriac/core/retry_policy.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

// Deepest nesting of tables, arrays and dotted keys a file may have; deeper
// input is rejected before parsing so that no recursion over it can exhaust the stack.
inline constexpr int kMaxConfigNesting = 32;

struct BrokerTlsConfig {
  std::optional<std::string> ca_cert;     // PEM file; the system store when absent
  std::optional<std::string> client_cert; // PEM file, for mutual TLS
  std::optional<std::string> client_key;  // PEM file, for mutual TLS
  bool verify_peer = true;
  bool verify_hostname = true;
  bool operator==(const BrokerTlsConfig&) const = default;
};

struct BrokerConfig {
  std::string url = "amqp://guest:guest@localhost:5672/%2f";
  std::optional<std::string> management_url;     // RabbitMQ's HTTP API, for policies and stats
  Duration heartbeat = std::chrono::seconds(30); // 0 turns AMQP heartbeats off
  int confirm_window = 1000;                     // unconfirmed publishes in flight
  std::uint64_t max_body_bytes = std::uint64_t{1} << 20;
  BrokerTlsConfig tls;
  bool operator==(const BrokerConfig&) const = default;
};

struct DatabaseConfig {
  std::string url = "postgresql://localhost/celeriac";
  std::string schema = "celeriac";                  // a plain SQL identifier
  Duration result_retention = std::chrono::days(7); // 0 keeps results forever
  bool track_pending = false;                       // write a PENDING row at enqueue time
  bool operator==(const DatabaseConfig&) const = default;
};

enum class QueueType { Classic, Quorum };

struct QueueConfig {
  std::string name;
  QueueType type = QueueType::Classic;
  // x-max-priority of a classic queue; always nullopt for a quorum queue,
  // which has no message priorities in RabbitMQ.
  std::optional<int> max_priority = 9;
  std::optional<Duration> time_to_process = std::nullopt; // SLO: a job should start within this
  std::optional<std::int64_t> depth_warning = std::nullopt;
  std::optional<std::int64_t> depth_critical = std::nullopt;
  bool operator==(const QueueConfig&) const = default;
};

// At most COUNT jobs per PER ("10/m"), per worker as in Celery.
struct RateLimit {
  double count = 0;
  Duration per = std::chrono::seconds(1);
  bool operator==(const RateLimit&) const = default;
};

// One [tasks] entry, or (from Config::task()) the settings of one task. A
// field the file did not set holds its built-in default; KEYS says which
// were set, so a worker can lay them over what a task's code says
// (worker/task_config.hpp) without mistaking a default for a choice.
struct TaskConfig {
  // The [tasks] key this came from: an exact name, a "prefix.*" pattern or
  // "*"; empty for the built-in defaults. From Config::task(): the most
  // specific entry that applied.
  std::string pattern;
  // The keys the entry set, as written: "queue", "priority", "retry" (the
  // whole table), "command", ... From Config::task(): those any applying entry set.
  std::set<std::string, std::less<>> keys;
  std::string queue = "default";
  int priority = 0;
  std::optional<Duration> soft_time_limit;
  std::optional<Duration> hard_time_limit;
  std::optional<RateLimit> rate_limit;
  int max_redeliveries = 3;
  bool ignore_result = false;
  RetryPolicy retry;
  // An external command run with the job as JSON on stdin; empty for a task
  // implemented in C++.
  std::vector<std::string> command;
  std::map<std::string, std::string> env; // extra environment for COMMAND

  bool sets(std::string_view key) const { return keys.contains(key); }
  bool operator==(const TaskConfig&) const = default;
};

enum class CatchUp { Skip, Once, All };

struct ScheduleConfig {
  std::string name;
  // Exactly one of CRON (kept as written; the scheduler parses it) and EVERY.
  std::optional<std::string> cron;
  std::optional<Duration> every;
  std::string tz = "UTC"; // IANA zone name; the scheduler checks that it exists
  std::string task;
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kwargs = nlohmann::json::object();
  std::optional<std::string> queue;          // the task's queue when absent
  std::optional<int> priority;               // the task's priority when absent
  std::optional<Duration> expires;           // a fire not started within this is revoked
  Duration jitter = Duration::zero();        // random delay added to each fire
  CatchUp catch_up = CatchUp::Skip;          // what to do with fires missed while down
  Duration lookback = std::chrono::hours(1); // how far back missed fires are looked for
  bool enabled = true;
  bool operator==(const ScheduleConfig&) const = default;
};

enum class PoolKind { Process, Thread };
enum class LogFormat { Text, Json };

struct WorkerConfig {
  std::vector<std::string> queues = {"default"}; // all configured queues, in file order
  int concurrency = 0;                           // 0: the caller uses the number of cores
  PoolKind pool = PoolKind::Process;
  int prefetch = 0;                                     // 0: the same as concurrency
  int max_tasks_per_child = 0;                          // 0: unlimited
  std::uint64_t max_memory_per_child = 0;               // bytes; 0: unlimited
  Duration shutdown_timeout = std::chrono::seconds(60); // grace period of a warm shutdown
  std::optional<std::string> http;                      // "host:port" for /healthz and /metrics
  LogFormat log_format = LogFormat::Text;
  bool events = false; // Celery task events on celeryev (-E)
  bool operator==(const WorkerConfig&) const = default;
};

// Autoscaling signal for one group of workers consuming QUEUES.
struct PoolConfig {
  std::string name;
  std::vector<std::string> queues; // all configured queues when absent from the file
  int min_workers = 1;
  int max_workers = 10;
  int target_per_worker = 100; // backlog one worker is expected to carry
  Duration scale_up_cooldown = std::chrono::minutes(1);
  Duration scale_down_cooldown = std::chrono::minutes(5);
  int max_step = 2; // most workers added or removed at once
  bool operator==(const PoolConfig&) const = default;
};

enum class AlertKind { QueueDepth, FailureRate, Latency };

struct AlertConfig {
  std::string name;
  AlertKind kind = AlertKind::QueueDepth;
  std::optional<std::string> queue; // required for queue_depth and latency
  // Thresholds, at least one: jobs for queue_depth, a fraction 0..1 for
  // failure_rate, seconds for latency. Critical is never below warning.
  std::optional<double> warning;
  std::optional<double> critical;
  Duration for_duration = std::chrono::minutes(1); // "for": how long a threshold must hold
  std::optional<std::string> webhook;
  bool operator==(const AlertConfig&) const = default;
};

struct SchedulerConfig {
  std::optional<std::string> http; // "host:port"
  // The advisory lock the replicas elect their leader with; nullopt: derived
  // from database.schema (scheduler_lock_key), so deployments sharing a
  // database in different schemas elect apart.
  std::optional<std::int64_t> lock_key;
  bool operator==(const SchedulerConfig&) const = default;
};

struct Config {
  BrokerConfig broker;
  DatabaseConfig database;
  std::vector<QueueConfig> queues = {QueueConfig{.name = "default"}}; // in file order
  std::vector<TaskConfig> tasks;                                      // as written
  std::vector<ScheduleConfig> schedules;
  WorkerConfig worker;
  std::vector<PoolConfig> pools;
  std::vector<AlertConfig> alerts;
  SchedulerConfig scheduler;

  // The queue named NAME, or nullptr.
  const QueueConfig* queue(std::string_view name) const;
  // The settings for task NAME, key by key from the most specific entry that
  // sets the key: the entry with exactly that name, then the matching
  // patterns, longest first ("jira.sync.*", "jira.*", "*"), then the built-in
  // defaults, routed to queue "default" (to the first configured queue when
  // there is no "default"). A retry table counts as one key.
  TaskConfig task(std::string_view name) const;

  bool operator==(const Config&) const = default;
};

// The advisory-lock key of CONFIG's schedulers: scheduler.lock_key, or else
// FNV-1a (64-bit) of "celeriac.scheduler:" and database.schema.
std::int64_t scheduler_lock_key(const Config& config);

// Parses and validates a celeriac.toml. SOURCE_NAME (usually the path) names
// the file in syntax errors. Empty text gives the defaults.
Config parse_config(std::string_view toml_text, std::string_view source_name);

struct EnvironmentVariable {
  std::string_view variable; // "CELERIAC_BROKER_URL"
  std::string_view key;      // "broker.url"
};

// The CELERIAC_* variables apply_environment reads, and the keys they set.
std::span<const EnvironmentVariable> environment_variables();

// Applies the variables of environment_variables() that ENV holds; ignores
// every other variable.
void apply_environment(Config& config, const std::map<std::string, std::string>& env);

// This process's environment (environ) as a map, for apply_environment.
std::map<std::string, std::string> process_environment();

// Sets one scalar key of [broker], [broker.tls], [database], [worker] or
// [scheduler] from text, read by the key's type: "30s" for durations,
// true/false/yes/no/1/0 for booleans, "512MiB" or bytes for sizes, and a
// comma-separated list for worker.queues.
void apply_override(Config& config, std::string_view dotted_key, std::string_view value);

// The effective configuration as JSON, shaped like the file. With REDACT,
// passwords in URLs become "****" (the user stays), as does the value of any
// key whose name contains password, token or secret.
nlohmann::json to_json(const Config& config, bool redact = true);
// One [[schedules]] entry as to_json shows it; also its definition in the store.
nlohmann::json to_json(const ScheduleConfig& schedule);

// "amqp://guest:****@host:5672/%2f": URL with its password, and the values of
// query parameters named like a secret, masked. Text without "://" is returned as is.
std::string redact_url(std::string_view url);

std::string_view to_string(QueueType type);
std::string_view to_string(CatchUp catch_up);
std::string_view to_string(PoolKind pool);
std::string_view to_string(LogFormat format);
std::string_view to_string(AlertKind kind);

} // namespace celeriac
