// The effective configuration as JSON (`celeriac config check`), and redaction.
#include <algorithm>
#include <array>

#include "config_reader.hpp"

namespace celeriac {
namespace {

using nlohmann::json;

constexpr std::string_view kMask = "****";

template <typename T>
json optional(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json optional(const std::optional<Duration>& value) {
  return value ? json(format_duration(*value)) : json(nullptr);
}

bool is_secret_name(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  constexpr std::array<std::string_view, 3> kWords = {"password", "token", "secret"};
  return std::any_of(kWords.begin(), kWords.end(),
                     [&](std::string_view word) { return lower.find(word) != std::string::npos; });
}

// "a=1&password=x#f" -> "a=1&password=****#f"
std::string redact_query(std::string_view query) {
  const auto hash = query.find('#');
  std::string_view params = query.substr(0, hash);
  std::string out;
  while (true) {
    const auto amp = params.find('&');
    const std::string_view param = params.substr(0, amp);
    const auto equals = param.find('=');
    if (equals != std::string_view::npos && is_secret_name(param.substr(0, equals))) {
      out += fmt::format("{}={}", param.substr(0, equals), kMask);
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    params = params.substr(amp + 1);
  }
  if (hash != std::string_view::npos) out += query.substr(hash);
  return out;
}

// Recursion is bounded: parse_config refuses input nested deeper than kMaxConfigNesting.
void redact_secrets(json& value) {
  if (value.is_object()) {
    for (auto&& item : value.items()) {
      if (is_secret_name(item.key()) && !item.value().is_null()) {
        item.value() = kMask;
      } else {
        redact_secrets(item.value());
      }
    }
  } else if (value.is_array()) {
    for (json& element : value)
      redact_secrets(element);
  } else if (value.is_string() &&
             value.get_ref<const std::string&>().find("://") != std::string::npos) {
    value = redact_url(value.get_ref<const std::string&>());
  }
}

std::string rate_text(const RateLimit& rate) {
  const std::string_view unit = rate.per == std::chrono::hours(1)     ? "h"
                                : rate.per == std::chrono::minutes(1) ? "m"
                                                                      : "s";
  return fmt::format("{}/{}", rate.count, unit);
}

json retry_json(const RetryPolicy& policy) {
  json out = {{"max_retries", policy.max_retries},
              {"max", format_duration(policy.max_delay)},
              {"jitter", to_string(policy.jitter)},
              {"retry_on", to_string(policy.retry_on)}};
  if (const auto* fixed = std::get_if<FixedBackoff>(&policy.backoff)) {
    out["backoff"] = "fixed";
    out["delay"] = format_duration(fixed->delay);
  } else {
    const auto& exponential = std::get<ExponentialBackoff>(policy.backoff);
    out["backoff"] = "exponential";
    out["base"] = format_duration(exponential.base);
    out["factor"] = exponential.factor;
  }
  return out;
}

json broker_json(const BrokerConfig& broker) {
  const BrokerTlsConfig& tls = broker.tls;
  return {{"url", broker.url},
          {"management_url", optional(broker.management_url)},
          {"heartbeat", format_duration(broker.heartbeat)},
          {"confirm_window", broker.confirm_window},
          {"max_body_bytes", broker.max_body_bytes},
          {"tls",
           {{"ca_cert", optional(tls.ca_cert)},
            {"client_cert", optional(tls.client_cert)},
            {"client_key", optional(tls.client_key)},
            {"verify_peer", tls.verify_peer},
            {"verify_hostname", tls.verify_hostname}}}};
}

json database_json(const DatabaseConfig& database) {
  return {{"url", database.url},
          {"schema", database.schema},
          {"result_retention", format_duration(database.result_retention)},
          {"track_pending", database.track_pending}};
}

json queues_json(const std::vector<QueueConfig>& queues) {
  json out = json::object();
  for (const QueueConfig& queue : queues) {
    out[queue.name] = {{"type", to_string(queue.type)},
                       {"max_priority", optional(queue.max_priority)},
                       {"time_to_process", optional(queue.time_to_process)},
                       {"depth_warning", optional(queue.depth_warning)},
                       {"depth_critical", optional(queue.depth_critical)}};
  }
  return out;
}

// Each entry with only the keys it sets: an unset key is no override of
// what the task's code says (worker/task_config.hpp), so it is not shown as one.
json tasks_json(const std::vector<TaskConfig>& tasks) {
  json out = json::object();
  for (const TaskConfig& task : tasks) {
    json entry = {
        {"queue", task.queue},
        {"priority", task.priority},
        {"soft_time_limit", optional(task.soft_time_limit)},
        {"hard_time_limit", optional(task.hard_time_limit)},
        {"rate_limit", task.rate_limit ? json(rate_text(*task.rate_limit)) : json(nullptr)},
        {"max_redeliveries", task.max_redeliveries},
        {"ignore_result", task.ignore_result},
        {"retry", retry_json(task.retry)},
        {"command", task.command.empty() ? json(nullptr) : json(task.command)},
        {"env", task.env}};
    json& shown = out[task.pattern] = json::object();
    for (const auto& [key, value] : entry.items()) {
      if (task.sets(key)) shown[key] = value;
    }
  }
  return out;
}

json schedules_json(const std::vector<ScheduleConfig>& schedules) {
  json out = json::array();
  for (const ScheduleConfig& s : schedules)
    out.push_back(to_json(s));
  return out;
}

} // namespace

json to_json(const ScheduleConfig& s) {
  return {{"name", s.name},
          {"cron", optional(s.cron)},
          {"every", optional(s.every)},
          {"tz", s.tz},
          {"task", s.task},
          {"args", s.args},
          {"kwargs", s.kwargs},
          {"queue", optional(s.queue)},
          {"priority", optional(s.priority)},
          {"expires", optional(s.expires)},
          {"jitter", format_duration(s.jitter)},
          {"catch_up", to_string(s.catch_up)},
          {"lookback", format_duration(s.lookback)},
          {"enabled", s.enabled}};
}

namespace {

json worker_json(const WorkerConfig& worker) {
  return {{"queues", worker.queues},
          {"concurrency", worker.concurrency},
          {"pool", to_string(worker.pool)},
          {"prefetch", worker.prefetch},
          {"max_tasks_per_child", worker.max_tasks_per_child},
          {"max_memory_per_child", worker.max_memory_per_child},
          {"shutdown_timeout", format_duration(worker.shutdown_timeout)},
          {"http", optional(worker.http)},
          {"log_format", to_string(worker.log_format)},
          {"events", worker.events}};
}

json pools_json(const std::vector<PoolConfig>& pools) {
  json out = json::object();
  for (const PoolConfig& pool : pools) {
    out[pool.name] = {{"queues", pool.queues},
                      {"min_workers", pool.min_workers},
                      {"max_workers", pool.max_workers},
                      {"target_per_worker", pool.target_per_worker},
                      {"scale_up_cooldown", format_duration(pool.scale_up_cooldown)},
                      {"scale_down_cooldown", format_duration(pool.scale_down_cooldown)},
                      {"max_step", pool.max_step}};
  }
  return out;
}

json alerts_json(const std::vector<AlertConfig>& alerts) {
  json out = json::array();
  for (const AlertConfig& alert : alerts) {
    out.push_back({{"name", alert.name},
                   {"kind", to_string(alert.kind)},
                   {"queue", optional(alert.queue)},
                   {"warning", optional(alert.warning)},
                   {"critical", optional(alert.critical)},
                   {"for", format_duration(alert.for_duration)},
                   {"webhook", optional(alert.webhook)}});
  }
  return out;
}

} // namespace

nlohmann::json to_json(const Config& config, bool redact) {
  json out = {
      {"broker", broker_json(config.broker)},
      {"database", database_json(config.database)},
      {"queues", queues_json(config.queues)},
      {"tasks", tasks_json(config.tasks)},
      {"schedules", schedules_json(config.schedules)},
      {"worker", worker_json(config.worker)},
      {"pools", pools_json(config.pools)},
      {"alerts", alerts_json(config.alerts)},
      {"scheduler",
       {{"http", optional(config.scheduler.http)}, {"lock_key", scheduler_lock_key(config)}}}};
  if (redact) redact_secrets(out);
  return out;
}

std::string redact_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const std::size_t host_begin = scheme_end + 3;
  const std::size_t host_end = std::min(url.find_first_of("/?#", host_begin), url.size());
  std::string out(url.substr(0, host_begin));
  const std::string_view authority = url.substr(host_begin, host_end - host_begin);
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    const bool has_password = colon != std::string_view::npos && colon + 1 < userinfo.size();
    out += has_password ? fmt::format("{}:{}", userinfo.substr(0, colon), kMask)
                        : std::string(userinfo);
    out += authority.substr(at);
  } else {
    out += authority;
  }
  const std::string_view rest = url.substr(host_end);
  const auto question = rest.find('?');
  out += rest.substr(0, question);
  if (question != std::string_view::npos) {
    out += '?';
    out += redact_query(rest.substr(question + 1));
  }
  return out;
}

} // namespace celeriac
