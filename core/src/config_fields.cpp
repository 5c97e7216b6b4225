// The scalar keys of [broker], [broker.tls], [database], [worker] and
// [scheduler]: one table says each key's type and check, and serves the file,
// the environment and command-line overrides alike, so the three cannot drift.
#include <algorithm>
#include <array>
#include <variant>

#include "config_reader.hpp"

extern char** environ;

namespace celeriac {
namespace config_detail {
namespace {

enum class FieldType { String, Bool, Integer, Duration, Size, List };

using FieldValue = std::variant<std::string, bool, std::int64_t, Duration, std::uint64_t,
                                std::vector<std::string>>;
using Reason = std::optional<std::string>;

struct Field {
  std::string_view key;
  FieldType type;
  std::int64_t min; // integers only
  std::int64_t max;
  // Checks VALUE and stores it in the config; returns why it was refused.
  Reason (*store)(Config&, const FieldValue&);
};

const std::string& text_of(const FieldValue& value) {
  return std::get<std::string>(value);
}
int int_of(const FieldValue& value) {
  return static_cast<int>(std::get<std::int64_t>(value));
}

Reason store_url(std::string& target, const FieldValue& value,
                 std::initializer_list<std::string_view> schemes) {
  if (auto why = check_url(text_of(value), schemes)) return why;
  target = text_of(value);
  return std::nullopt;
}

Reason store_url(std::optional<std::string>& target, const FieldValue& value,
                 std::initializer_list<std::string_view> schemes) {
  if (auto why = check_url(text_of(value), schemes)) return why;
  target = text_of(value);
  return std::nullopt;
}

Reason store_host_port(std::optional<std::string>& target, const FieldValue& value) {
  if (auto why = check_host_port(text_of(value))) return why;
  target = text_of(value);
  return std::nullopt;
}

Reason store_path(std::optional<std::string>& target, const FieldValue& value) {
  if (text_of(value).empty()) return "must not be empty";
  target = text_of(value);
  return std::nullopt;
}

template <typename Enum>
Reason store_choice(Enum& target, const FieldValue& value, std::initializer_list<Enum> options) {
  const auto names = choice_names(options);
  const auto index = find_choice(text_of(value), names);
  if (!index) return choice_reason(names, text_of(value));
  target = options.begin()[*index];
  return std::nullopt;
}

constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

// clang-format off
const auto kFields = std::to_array<Field>({
  {"broker.url", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_url(c.broker.url, v, {"amqp", "amqps"}); }},
  {"broker.management_url", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_url(c.broker.management_url, v, {"http", "https"}); }},
  {"broker.heartbeat", FieldType::Duration, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.broker.heartbeat = std::get<Duration>(v); return std::nullopt; }},
  {"broker.confirm_window", FieldType::Integer, 1, kIntMax, [](Config& c, const FieldValue& v) -> Reason {
     c.broker.confirm_window = int_of(v); return std::nullopt; }},
  {"broker.max_body_bytes", FieldType::Size, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     if (std::get<std::uint64_t>(v) == 0) return "must be at least 1 byte";
     c.broker.max_body_bytes = std::get<std::uint64_t>(v); return std::nullopt; }},
  {"broker.tls.ca_cert", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_path(c.broker.tls.ca_cert, v); }},
  {"broker.tls.client_cert", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_path(c.broker.tls.client_cert, v); }},
  {"broker.tls.client_key", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_path(c.broker.tls.client_key, v); }},
  {"broker.tls.verify_peer", FieldType::Bool, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.broker.tls.verify_peer = std::get<bool>(v); return std::nullopt; }},
  {"broker.tls.verify_hostname", FieldType::Bool, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.broker.tls.verify_hostname = std::get<bool>(v); return std::nullopt; }},
  {"database.url", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_url(c.database.url, v, {"postgresql", "postgres"}); }},
  {"database.schema", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     if (auto why = check_sql_identifier(text_of(v))) return why;
     c.database.schema = text_of(v); return std::nullopt; }},
  {"database.result_retention", FieldType::Duration, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.database.result_retention = std::get<Duration>(v); return std::nullopt; }},
  {"database.track_pending", FieldType::Bool, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.database.track_pending = std::get<bool>(v); return std::nullopt; }},
  {"worker.queues", FieldType::List, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     const auto& names = std::get<std::vector<std::string>>(v);
     if (auto why = check_queue_list(c, names)) return why;
     c.worker.queues = names; return std::nullopt; }},
  {"worker.concurrency", FieldType::Integer, 1, kIntMax, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.concurrency = int_of(v); return std::nullopt; }},
  {"worker.pool", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_choice(c.worker.pool, v, {PoolKind::Process, PoolKind::Thread}); }},
  {"worker.prefetch", FieldType::Integer, 0, kIntMax, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.prefetch = int_of(v); return std::nullopt; }},
  {"worker.max_tasks_per_child", FieldType::Integer, 0, kIntMax, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.max_tasks_per_child = int_of(v); return std::nullopt; }},
  {"worker.max_memory_per_child", FieldType::Size, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.max_memory_per_child = std::get<std::uint64_t>(v); return std::nullopt; }},
  {"worker.shutdown_timeout", FieldType::Duration, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.shutdown_timeout = std::get<Duration>(v); return std::nullopt; }},
  {"worker.http", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_host_port(c.worker.http, v); }},
  {"worker.log_format", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_choice(c.worker.log_format, v, {LogFormat::Text, LogFormat::Json}); }},
  {"worker.events", FieldType::Bool, 0, 0, [](Config& c, const FieldValue& v) -> Reason {
     c.worker.events = std::get<bool>(v); return std::nullopt; }},
  {"scheduler.http", FieldType::String, 0, 0, [](Config& c, const FieldValue& v) {
     return store_host_port(c.scheduler.http, v); }},
  {"scheduler.lock_key", FieldType::Integer, kInt64Min, kInt64Max, [](Config& c, const FieldValue& v) -> Reason {
     c.scheduler.lock_key = std::get<std::int64_t>(v); return std::nullopt; }},
});
// clang-format on

constexpr auto kEnvironment = std::to_array<EnvironmentVariable>({
    {"CELERIAC_BROKER_URL", "broker.url"},
    {"CELERIAC_MANAGEMENT_URL", "broker.management_url"},
    {"CELERIAC_DATABASE_URL", "database.url"},
    {"CELERIAC_DATABASE_SCHEMA", "database.schema"},
    {"CELERIAC_WORKER_CONCURRENCY", "worker.concurrency"},
    {"CELERIAC_WORKER_POOL", "worker.pool"},
    {"CELERIAC_LOG_FORMAT", "worker.log_format"},
});

const Field* find_field(std::string_view key) {
  const auto* it = std::find_if(kFields.begin(), kFields.end(),
                                [&](const Field& field) { return field.key == key; });
  return it == kFields.end() ? nullptr : &*it;
}

// The names directly under PREFIX ("broker" -> url, ..., tls).
std::vector<std::string_view> child_names(std::string_view prefix) {
  std::vector<std::string_view> names;
  for (const Field& field : kFields) {
    if (field.key.size() <= prefix.size() || !field.key.starts_with(prefix) ||
        field.key[prefix.size()] != '.') {
      continue;
    }
    const std::string_view rest = field.key.substr(prefix.size() + 1);
    const std::string_view name = rest.substr(0, rest.find('.'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

FieldValue read_field(const Field& field, const toml::node& node, const std::string& key) {
  switch (field.type) {
    case FieldType::String:
      return read_string(node, key);
    case FieldType::Bool:
      return read_bool(node, key);
    case FieldType::Integer:
      return read_integer(node, key, field.min, field.max);
    case FieldType::Duration:
      return read_duration(node, key);
    case FieldType::Size:
      return read_size(node, key);
    case FieldType::List:
      return read_strings(node, key);
  }
  return {};
}

FieldValue text_field(const Field& field, std::string_view text, const std::string& key) {
  switch (field.type) {
    case FieldType::String:
      return std::string(text);
    case FieldType::Bool:
      return text_bool(text, key);
    case FieldType::Integer:
      return text_integer(text, key, field.min, field.max);
    case FieldType::Duration:
      return text_duration(text, key);
    case FieldType::Size:
      return text_size(text, key);
    case FieldType::List:
      return text_list(text);
  }
  return {};
}

// Recurses once per sub-table ([broker.tls]); the fields table fixes the depth.
void read_section(const toml::table& table, const std::string& prefix, Config& config) {
  TableReader(table, prefix).allow_only(child_names(prefix));
  for (const auto& [name, node] : table) {
    const std::string key = prefix + "." + std::string(name.str());
    const Field* field = find_field(key);
    if (field == nullptr) {
      read_section(read_table(node, key), key, config);
      continue;
    }
    if (auto why = field->store(config, read_field(*field, node, key))) fail_at(node, key, *why);
  }
}

// Mutual TLS needs the certificate and its key together.
void check_client_certificate(const toml::table& root, const Config& config) {
  const auto& tls = config.broker.tls;
  if (tls.client_cert.has_value() == tls.client_key.has_value()) return;
  const std::string_view missing = tls.client_cert ? "client_key" : "client_cert";
  const toml::node* node =
      root.at_path(tls.client_cert ? "broker.tls.client_cert" : "broker.tls.client_key").node();
  const std::string key = fmt::format("broker.tls.{}", missing);
  const std::string reason = "is required with the other half of the client certificate";
  if (node == nullptr) throw ConfigError(key, reason);
  fail_at(*node, key, reason);
}

} // namespace

void read_scalar_sections(const toml::table& root, Config& config) {
  for (const std::string section : {"broker", "database", "worker", "scheduler"}) {
    if (const toml::node* node = root.get(section)) {
      read_section(read_table(*node, section), section, config);
    }
  }
  check_client_certificate(root, config);
}

} // namespace config_detail

std::span<const EnvironmentVariable> environment_variables() {
  return config_detail::kEnvironment;
}

void apply_override(Config& config, std::string_view dotted_key, std::string_view value) {
  using namespace config_detail;
  const std::string key(dotted_key);
  const Field* field = find_field(dotted_key);
  if (field == nullptr) {
    std::vector<std::string_view> known;
    for (const Field& candidate : kFields)
      known.push_back(candidate.key);
    throw ConfigError(key, unknown_key_reason(dotted_key, known) +
                               ": overrides set the scalar keys of [broker], [broker.tls], "
                               "[database], [worker] and [scheduler]");
  }
  if (auto why = field->store(config, text_field(*field, value, key))) {
    throw ConfigError(key, *why);
  }
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq != std::string_view::npos)
      env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

void apply_environment(Config& config, const std::map<std::string, std::string>& env) {
  for (const EnvironmentVariable& variable : config_detail::kEnvironment) {
    const auto it = env.find(std::string(variable.variable));
    // An empty variable counts as unset, as shells make unsetting awkward.
    if (it == env.end() || it->second.empty()) continue;
    try {
      apply_override(config, variable.key, it->second);
    } catch (const ConfigError& error) {
      throw ConfigError(std::string(variable.variable), error.reason());
    }
  }
}

} // namespace celeriac
