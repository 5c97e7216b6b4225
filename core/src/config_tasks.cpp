// [tasks."<name or pattern>"], with its retry policy and rate limit.
#include <array>
#include <charconv>
#include <cmath>

#include "celeriac/core/job.hpp"
#include "celeriac/core/rate_limit.hpp"
#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

constexpr std::string_view kRateForm = "a rate such as \"10/s\", \"100/m\" or \"1000/h\"";

RateLimit read_rate_limit(const toml::node& node, const std::string& key) {
  if (const auto* text = node.as_string()) {
    if (auto rate = parse_rate_limit(text->get())) return *rate;
    fail_at(node, key, fmt::format("must be {}, got {}", kRateForm, in_quotes(text->get())));
  }
  if (node.is_number()) {
    return RateLimit{read_number(node, key, 1e-9, HUGE_VAL), std::chrono::seconds(1)};
  }
  fail_at(node, key, fmt::format("must be {}, got {}", kRateForm, type_name(node)));
}

void read_backoff(const TableReader& r, RetryPolicy& policy) {
  const std::string backoff = r.string("backoff").value_or("exponential");
  if (backoff == "fixed") {
    for (const std::string_view name : {"base", "factor"}) {
      if (r.find(name) != nullptr) r.fail(name, "applies only to backoff = \"exponential\"");
    }
    FixedBackoff fixed;
    fixed.delay = r.duration("delay").value_or(fixed.delay);
    policy.backoff = fixed;
  } else if (backoff == "exponential") {
    if (r.find("delay") != nullptr) r.fail("delay", "applies only to backoff = \"fixed\"");
    ExponentialBackoff exponential;
    exponential.base = r.duration("base", true).value_or(exponential.base);
    exponential.factor = r.number("factor", 1.0, HUGE_VAL).value_or(exponential.factor);
    policy.backoff = exponential;
  } else {
    constexpr std::array<std::string_view, 2> names = {"fixed", "exponential"};
    r.fail("backoff", choice_reason(names, backoff));
  }
}

RetryPolicy read_retry(const TableReader& r) {
  r.allow_only({"max_retries", "backoff", "delay", "base", "factor", "max", "jitter", "retry_on"});
  RetryPolicy policy;
  policy.max_retries = r.integer("max_retries", 0).value_or(policy.max_retries);
  read_backoff(r, policy);
  policy.max_delay = r.duration("max").value_or(policy.max_delay);
  policy.jitter =
      r.choice("jitter", {Jitter::None, Jitter::Full, Jitter::Equal}).value_or(policy.jitter);
  policy.retry_on = r.choice("retry_on", {RetryOn::Transient, RetryOn::All, RetryOn::None})
                        .value_or(policy.retry_on);
  return policy;
}

// exec() takes NUL-terminated strings: a NUL inside one would silently cut it.
std::optional<std::string> check_exec_text(std::string_view text) {
  if (text.find('\0') == std::string_view::npos) return std::nullopt;
  return "must not contain NUL characters";
}

void read_command(const TableReader& r, TaskConfig& task) {
  if (auto command = r.strings("command")) {
    if (task.pattern == "*" || task.pattern.ends_with(".*")) {
      r.fail("command", "applies only to an exact task name, not to a pattern");
    }
    if (command->empty() || command->front().empty()) {
      r.fail("command", "must be a non-empty array: the program, then its arguments");
    }
    for (std::size_t i = 0; i < command->size(); ++i) {
      if (auto why = check_exec_text((*command)[i])) {
        fail_at(*r.find("command"), index_key(r.key("command"), i), *why);
      }
    }
    task.command = std::move(*command);
  }
  const auto env = r.subtable("env");
  if (!env) return;
  if (task.command.empty()) r.fail("env", "applies only to tasks with a command");
  for (const auto& [name, node] : env->table()) {
    const std::string key = env->key(name.str());
    std::string value = read_string(node, key);
    if (name.str().empty() ||
        name.str().find_first_of(std::string_view("=\0", 2)) != std::string_view::npos) {
      fail_at(node, key, "is not a valid environment variable name");
    }
    if (auto why = check_exec_text(value)) fail_at(node, key, *why);
    task.env.emplace(std::string(name.str()), std::move(value));
  }
}

void read_time_limits(const TableReader& r, TaskConfig& task) {
  task.soft_time_limit = r.duration("soft_time_limit", true);
  task.hard_time_limit = r.duration("hard_time_limit", true);
  if (task.soft_time_limit && task.hard_time_limit &&
      *task.soft_time_limit > *task.hard_time_limit) {
    r.fail("soft_time_limit", fmt::format("must not be longer than hard_time_limit ({}), got {}",
                                          format_duration(*task.hard_time_limit),
                                          format_duration(*task.soft_time_limit)));
  }
}

TaskConfig read_task(const TableReader& r, std::string_view pattern, const Config& config) {
  r.reject_unquoted_dots("tasks", pattern, {"retry", "env"});
  r.allow_only({"queue", "priority", "soft_time_limit", "hard_time_limit", "rate_limit",
                "max_redeliveries", "ignore_result", "retry", "command", "env"});
  TaskConfig task;
  task.pattern = std::string(pattern);
  for (const auto& [name, node] : r.table())
    task.keys.emplace(name.str());
  task.queue = default_task_queue(config);
  if (auto queue = r.string("queue")) {
    if (auto why = check_queue_exists(config, *queue)) r.fail("queue", *why);
    task.queue = std::move(*queue);
  }
  task.priority = r.integer("priority", kMinPriority, kMaxPriority).value_or(task.priority);
  read_time_limits(r, task);
  if (const toml::node* node = r.find("rate_limit")) {
    task.rate_limit = read_rate_limit(*node, r.key("rate_limit"));
  }
  task.max_redeliveries = r.integer("max_redeliveries", 0).value_or(task.max_redeliveries);
  task.ignore_result = r.boolean("ignore_result").value_or(task.ignore_result);
  if (auto retry = r.subtable("retry")) task.retry = read_retry(*retry);
  read_command(r, task);
  return task;
}

} // namespace

void read_tasks(const toml::table& root, Config& config) {
  const toml::node* node = root.get("tasks");
  if (node == nullptr) return;
  for (const NamedEntry& entry : in_file_order(read_table(*node, "tasks"))) {
    const std::string key = join_key("tasks", entry.name);
    if (auto why = check_task_name(entry.name, true))
      fail_at(*entry.node, key, "task name " + *why);
    config.tasks.push_back(
        read_task(TableReader(read_table(*entry.node, key), key), entry.name, config));
  }
}

} // namespace celeriac::config_detail
