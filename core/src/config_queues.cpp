// [queues.<name>] and [pools.<name>].
#include <algorithm>

#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

QueueConfig read_queue(const TableReader& r, std::string_view name) {
  r.reject_unquoted_dots("queues", name, {});
  r.allow_only({"type", "max_priority", "time_to_process", "depth_warning", "depth_critical"});
  QueueConfig queue;
  queue.name = std::string(name);
  queue.type =
      r.choice("type", {QueueType::Classic, QueueType::Quorum}).value_or(QueueType::Classic);
  const auto max_priority = r.integer("max_priority", 1, 255);
  if (queue.type == QueueType::Quorum) {
    if (max_priority) {
      r.fail("max_priority",
             "quorum queues have no message priorities in RabbitMQ: remove max_priority or use "
             "type = \"classic\"");
    }
    queue.max_priority.reset();
  } else if (max_priority) {
    queue.max_priority = *max_priority;
  }
  queue.time_to_process = r.duration("time_to_process", true);
  queue.depth_warning = r.integer64("depth_warning", 0);
  queue.depth_critical = r.integer64("depth_critical", 0);
  if (queue.depth_warning && queue.depth_critical && *queue.depth_critical < *queue.depth_warning) {
    r.fail("depth_critical", fmt::format("must be at least depth_warning ({}), got {}",
                                         *queue.depth_warning, *queue.depth_critical));
  }
  return queue;
}

PoolConfig read_pool(const TableReader& r, std::string_view name, const Config& config) {
  r.allow_only({"queues", "min_workers", "max_workers", "target_per_worker", "scale_up_cooldown",
                "scale_down_cooldown", "max_step"});
  PoolConfig pool;
  pool.name = std::string(name);
  if (auto queues = r.strings("queues")) {
    if (auto why = check_queue_list(config, *queues)) r.fail("queues", *why);
    pool.queues = std::move(*queues);
  } else {
    for (const QueueConfig& queue : config.queues)
      pool.queues.push_back(queue.name);
  }
  pool.min_workers = r.integer("min_workers", 0).value_or(pool.min_workers);
  pool.max_workers = r.integer("max_workers", 1).value_or(pool.max_workers);
  if (pool.max_workers < pool.min_workers) {
    r.fail("max_workers", fmt::format("must be at least min_workers ({}), got {}", pool.min_workers,
                                      pool.max_workers));
  }
  pool.target_per_worker = r.integer("target_per_worker", 1).value_or(pool.target_per_worker);
  pool.scale_up_cooldown = r.duration("scale_up_cooldown").value_or(pool.scale_up_cooldown);
  pool.scale_down_cooldown = r.duration("scale_down_cooldown").value_or(pool.scale_down_cooldown);
  pool.max_step = r.integer("max_step", 1).value_or(pool.max_step);
  return pool;
}

} // namespace

std::vector<NamedEntry> in_file_order(const toml::table& table) {
  std::vector<NamedEntry> entries;
  for (const auto& [name, node] : table)
    entries.push_back({name.str(), &node});
  std::stable_sort(entries.begin(), entries.end(), [](const NamedEntry& a, const NamedEntry& b) {
    const auto& x = a.node->source().begin;
    const auto& y = b.node->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return entries;
}

std::string default_task_queue(const Config& config) {
  if (config.queue("default") != nullptr || config.queues.empty()) return "default";
  return config.queues.front().name;
}

std::optional<std::string> check_queue_exists(const Config& config, std::string_view queue) {
  if (config.queue(queue) != nullptr) return std::nullopt;
  return fmt::format("names queue {}, which is not configured under [queues]", in_quotes(queue));
}

void read_queues(const toml::table& root, Config& config) {
  const toml::node* node = root.get("queues");
  if (node == nullptr) return;
  const auto entries = in_file_order(read_table(*node, "queues"));
  if (entries.empty()) return; // no queues: keep the built-in "default"
  config.queues.clear();
  config.worker.queues.clear();
  for (const NamedEntry& entry : entries) {
    const std::string key = join_key("queues", entry.name);
    if (auto why = check_queue_name(entry.name)) fail_at(*entry.node, key, "queue name " + *why);
    config.queues.push_back(read_queue(TableReader(read_table(*entry.node, key), key), entry.name));
    config.worker.queues.emplace_back(entry.name);
  }
}

void read_pools(const toml::table& root, Config& config) {
  const toml::node* node = root.get("pools");
  if (node == nullptr) return;
  for (const NamedEntry& entry : in_file_order(read_table(*node, "pools"))) {
    const std::string key = join_key("pools", entry.name);
    if (auto why = check_queue_name(entry.name)) fail_at(*entry.node, key, "pool name " + *why);
    config.pools.push_back(
        read_pool(TableReader(read_table(*entry.node, key), key), entry.name, config));
  }
}

} // namespace celeriac::config_detail
