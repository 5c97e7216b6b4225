// [[alerts]]: thresholds the queue monitor turns into ok / warning / critical.
#include <algorithm>
#include <cmath>

#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

// Latency thresholds read as durations too ("5m"), and are kept in seconds.
std::optional<double> read_threshold(const TableReader& r, std::string_view name, AlertKind kind) {
  const toml::node* node = r.find(name);
  if (node == nullptr) return std::nullopt;
  switch (kind) {
    case AlertKind::QueueDepth:
      return read_number(*node, r.key(name), 0, HUGE_VAL);
    case AlertKind::FailureRate:
      return read_number(*node, r.key(name), 0, 1);
    case AlertKind::Latency:
      if (node->is_string()) return to_seconds(read_duration(*node, r.key(name)));
      return read_number(*node, r.key(name), 0, HUGE_VAL);
  }
  return std::nullopt;
}

// A queue_depth alert without thresholds takes its queue's depth_warning and
// depth_critical, so the numbers live in one place.
void read_thresholds(const TableReader& r, const Config& config, AlertConfig& alert) {
  alert.warning = read_threshold(r, "warning", alert.kind);
  alert.critical = read_threshold(r, "critical", alert.kind);
  if (!alert.warning && !alert.critical && alert.kind == AlertKind::QueueDepth) {
    const QueueConfig& queue = *config.queue(*alert.queue);
    if (queue.depth_warning) alert.warning = static_cast<double>(*queue.depth_warning);
    if (queue.depth_critical) alert.critical = static_cast<double>(*queue.depth_critical);
  }
  if (!alert.warning && !alert.critical) {
    throw ConfigError(r.key(),
                      alert.kind == AlertKind::QueueDepth
                          ? "needs warning or critical, here or as its queue's depth_warning or "
                            "depth_critical"
                          : "needs a warning or a critical threshold, or both",
                      r.line());
  }
  if (alert.warning && alert.critical && *alert.critical < *alert.warning) {
    r.fail("critical",
           fmt::format("must be at least warning ({}), got {}", *alert.warning, *alert.critical));
  }
}

void read_queue(const TableReader& r, const Config& config, AlertConfig& alert) {
  alert.queue = r.string("queue");
  if (alert.queue) {
    if (auto why = check_queue_exists(config, *alert.queue)) r.fail("queue", *why);
  } else if (alert.kind != AlertKind::FailureRate) {
    r.fail("queue", fmt::format("is required for kind = \"{}\"", to_string(alert.kind)));
  }
}

AlertConfig read_alert(const TableReader& r, const Config& config) {
  r.allow_only({"name", "kind", "queue", "warning", "critical", "for", "webhook"});
  AlertConfig alert;
  alert.name = r.required_string("name");
  if (auto why = check_entry_name(alert.name)) r.fail("name", *why);
  const auto kind =
      r.choice("kind", {AlertKind::QueueDepth, AlertKind::FailureRate, AlertKind::Latency});
  if (!kind) r.fail("kind", "is required: \"queue_depth\", \"failure_rate\" or \"latency\"");
  alert.kind = *kind;
  read_queue(r, config, alert);
  read_thresholds(r, config, alert);
  alert.for_duration = r.duration("for").value_or(alert.for_duration);
  if (auto webhook = r.string("webhook")) {
    if (auto why = check_url(*webhook, {"http", "https"})) r.fail("webhook", *why);
    alert.webhook = std::move(*webhook);
  }
  return alert;
}

} // namespace

void read_alerts(const toml::table& root, Config& config) {
  const toml::node* node = root.get("alerts");
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr) {
    fail_at(*node, "alerts",
            fmt::format("must be an array of tables ([[alerts]]), got {}", type_name(*node)));
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string key = index_key("alerts", i);
    const TableReader reader(read_table(*array->get(i), key), key);
    AlertConfig alert = read_alert(reader, config);
    const auto same = [&](const AlertConfig& other) { return other.name == alert.name; };
    if (std::any_of(config.alerts.begin(), config.alerts.end(), same)) {
      reader.fail("name",
                  fmt::format("{} is already the name of another alert", in_quotes(alert.name)));
    }
    config.alerts.push_back(std::move(alert));
  }
}

} // namespace celeriac::config_detail
