// [[schedules]]: periodic jobs. The cron expression and time zone are checked
// with the scheduler's own parser (schedule.hpp), so a schedule that loads is
// a schedule that runs; the expression is kept as written.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "celeriac/core/job.hpp"
#include "celeriac/core/schedule.hpp"
#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

template <typename Value>
std::string iso_text(const Value& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Exactly one of cron and every.
void read_timing(const TableReader& r, ScheduleConfig& schedule) {
  schedule.cron = r.string("cron");
  if (schedule.cron && schedule.cron->empty()) r.fail("cron", "must not be empty");
  schedule.every = r.duration("every", true);
  if (schedule.cron && schedule.every) {
    r.fail("every", "cannot be combined with cron: give exactly one of them");
  }
  if (!schedule.cron && !schedule.every) {
    throw ConfigError(r.key(), "needs exactly one of cron or every", r.line());
  }
  if (auto tz = r.string("tz")) {
    // The character check comes first: it keeps names like "../x" away from
    // the tz database, which reads a file named after the zone.
    if (auto why = check_time_zone(*tz)) r.fail("tz", *why);
    schedule.tz = std::move(*tz);
  }
  if (!schedule.cron) return;
  try {
    (void)Schedule::cron(*schedule.cron, schedule.tz);
  } catch (const InvalidInput& e) {
    r.fail(e.field() == "tz" ? "tz" : "cron", e.reason());
  }
}

void read_job(const TableReader& r, const Config& config, ScheduleConfig& schedule) {
  schedule.task = r.required_string("task");
  if (auto why = check_task_name(schedule.task, false)) r.fail("task", *why);
  if (const toml::node* args = r.find("args")) {
    if (!args->is_array()) {
      fail_at(*args, r.key("args"), fmt::format("must be an array, got {}", type_name(*args)));
    }
    schedule.args = toml_to_json(*args, r.key("args"));
  }
  if (const toml::node* kwargs = r.find("kwargs")) {
    schedule.kwargs = toml_to_json(read_table(*kwargs, r.key("kwargs")), r.key("kwargs"));
  }
  if (auto queue = r.string("queue")) {
    if (auto why = check_queue_exists(config, *queue)) r.fail("queue", *why);
    schedule.queue = std::move(*queue);
  }
  schedule.priority = r.integer("priority", kMinPriority, kMaxPriority);
  schedule.expires = r.duration("expires", true);
}

ScheduleConfig read_schedule(const TableReader& r, const Config& config) {
  r.allow_only({"name", "cron", "every", "tz", "task", "args", "kwargs", "queue", "priority",
                "expires", "jitter", "catch_up", "lookback", "enabled"});
  ScheduleConfig schedule;
  schedule.name = r.required_string("name");
  if (auto why = check_entry_name(schedule.name)) r.fail("name", *why);
  read_timing(r, schedule);
  read_job(r, config, schedule);
  schedule.jitter = r.duration("jitter").value_or(schedule.jitter);
  schedule.catch_up = r.choice("catch_up", {CatchUp::Skip, CatchUp::Once, CatchUp::All})
                          .value_or(schedule.catch_up);
  schedule.lookback = r.duration("lookback").value_or(schedule.lookback);
  schedule.enabled = r.boolean("enabled").value_or(schedule.enabled);
  return schedule;
}

} // namespace

void read_schedules(const toml::table& root, Config& config) {
  const toml::node* node = root.get("schedules");
  if (node == nullptr) return;
  const auto* array = node->as_array();
  if (array == nullptr) {
    fail_at(*node, "schedules",
            fmt::format("must be an array of tables ([[schedules]]), got {}", type_name(*node)));
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const std::string key = index_key("schedules", i);
    const TableReader reader(read_table(*array->get(i), key), key);
    ScheduleConfig schedule = read_schedule(reader, config);
    const auto same = [&](const ScheduleConfig& other) { return other.name == schedule.name; };
    if (std::any_of(config.schedules.begin(), config.schedules.end(), same)) {
      reader.fail("name", fmt::format("{} is already the name of another schedule",
                                      in_quotes(schedule.name)));
    }
    config.schedules.push_back(std::move(schedule));
  }
}

// Recursion is bounded: parse_config refuses input nested deeper than kMaxConfigNesting.
nlohmann::json toml_to_json(const toml::node& node, const std::string& key) {
  switch (node.type()) {
    case toml::node_type::table: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& [name, value] : *node.as_table()) {
        object[std::string(name.str())] = toml_to_json(value, join_key(key, name.str()));
      }
      return object;
    }
    case toml::node_type::array: {
      nlohmann::json array = nlohmann::json::array();
      for (std::size_t i = 0; i < node.as_array()->size(); ++i) {
        array.push_back(toml_to_json(*node.as_array()->get(i), index_key(key, i)));
      }
      return array;
    }
    case toml::node_type::string:
      return node.as_string()->get();
    case toml::node_type::integer:
      return node.as_integer()->get();
    case toml::node_type::floating_point: {
      const double value = node.as_floating_point()->get();
      if (!std::isfinite(value)) fail_at(node, key, "must be finite: JSON has no nan or inf");
      return value;
    }
    case toml::node_type::boolean:
      return node.as_boolean()->get();
    case toml::node_type::date:
      return iso_text(*node.as_date());
    case toml::node_type::time:
      return iso_text(*node.as_time());
    case toml::node_type::date_time:
      return iso_text(*node.as_date_time());
    case toml::node_type::none:
      break;
  }
  return nullptr;
}

} // namespace celeriac::config_detail
