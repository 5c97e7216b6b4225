// Private to config*.cpp: reading TOML nodes and command-line text into typed
// values, where every rejection becomes a ConfigError naming the key (see
// config.hpp for the key format) and, for file values, the line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "celeriac/core/config.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac::config_detail {

inline constexpr int kIntMax = std::numeric_limits<int>::max();
inline constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// --- keys and messages ---

std::optional<int> line_of(const toml::node& node);
// NAME as a key segment: bare when it can be a bare TOML key, else quoted.
std::string key_segment(std::string_view name);
std::string join_key(std::string_view parent, std::string_view name);
std::string index_key(std::string_view parent, std::size_t index);
// TEXT in double quotes with escapes, shortened when long: for "got ..." in messages.
std::string in_quotes(std::string_view text);
// "string", "integer", "table", ...: for "got ..." in type errors.
std::string_view type_name(const toml::node& node);

// "unknown key", with the closest of KNOWN when NAME looks like a typo of it.
std::string unknown_key_reason(std::string_view name, std::span<const std::string_view> known);

[[noreturn]] void fail_at(const toml::node& node, const std::string& key, std::string reason);

// --- file values: each throws ConfigError(key, reason, the node's line) ---

std::string read_string(const toml::node& node, const std::string& key);
bool read_bool(const toml::node& node, const std::string& key);
std::int64_t read_integer(const toml::node& node, const std::string& key, std::int64_t min,
                          std::int64_t max);
double read_number(const toml::node& node, const std::string& key, double min, double max);
// A duration string ("5m") or a number of seconds; POSITIVE rejects zero.
Duration read_duration(const toml::node& node, const std::string& key, bool positive = false);
// A number of bytes, or a string with a unit ("512MiB", "1GB").
std::uint64_t read_size(const toml::node& node, const std::string& key);
std::vector<std::string> read_strings(const toml::node& node, const std::string& key);
const toml::table& read_table(const toml::node& node, const std::string& key);

// --- command-line and environment text: each throws ConfigError(key, reason) ---

bool text_bool(std::string_view text, const std::string& key);
std::int64_t text_integer(std::string_view text, const std::string& key, std::int64_t min,
                          std::int64_t max);
Duration text_duration(std::string_view text, const std::string& key, bool positive = false);
std::uint64_t text_size(std::string_view text, const std::string& key);
// "high, default" -> {"high", "default"}.
std::vector<std::string> text_list(std::string_view text);

// --- enumerations read by their to_string() names ---

std::optional<std::size_t> find_choice(std::string_view text,
                                       std::span<const std::string_view> names);
std::string choice_reason(std::span<const std::string_view> names, std::string_view got);

template <typename Enum>
std::vector<std::string_view> choice_names(std::initializer_list<Enum> options) {
  std::vector<std::string_view> names;
  for (Enum option : options)
    names.push_back(to_string(option));
  return names;
}

template <typename Enum>
Enum read_choice(const toml::node& node, const std::string& key,
                 std::initializer_list<Enum> options) {
  const std::string text = read_string(node, key);
  const auto names = choice_names(options);
  if (auto index = find_choice(text, names)) return options.begin()[*index];
  fail_at(node, key, choice_reason(names, text));
}

template <typename Enum>
Enum text_choice(std::string_view text, const std::string& key,
                 std::initializer_list<Enum> options) {
  const auto names = choice_names(options);
  if (auto index = find_choice(text, names)) return options.begin()[*index];
  throw ConfigError(key, choice_reason(names, text));
}

// --- a table being read ---

// Wraps a TOML table with its key so that each getter names the full key in
// its errors. Getters return nullopt for absent keys.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string key) : table_(table), key_(std::move(key)) {}

  const toml::table& table() const { return table_; }
  const std::string& key() const { return key_; }
  std::string key(std::string_view name) const { return join_key(key_, name); }
  std::optional<int> line() const { return line_of(table_); }

  // Throws for the first key not among NAMES, suggesting a close known one.
  void allow_only(std::span<const std::string_view> names) const;
  void allow_only(std::initializer_list<std::string_view> names) const {
    allow_only(std::span(names.begin(), names.size()));
  }
  // [tasks.jira.sync] reads as task "jira" holding a table "sync": refuses a
  // table-valued key not in SUBTABLES with a hint to quote the name instead.
  void reject_unquoted_dots(std::string_view section, std::string_view name,
                            std::initializer_list<std::string_view> subtables) const;
  const toml::node* find(std::string_view name) const;
  // Fails at NAME's line, or at the table's when NAME is absent.
  [[noreturn]] void fail(std::string_view name, std::string reason) const;

  std::optional<std::string> string(std::string_view name) const;
  std::string required_string(std::string_view name) const;
  std::optional<bool> boolean(std::string_view name) const;
  std::optional<int> integer(std::string_view name, int min, int max = kIntMax) const;
  std::optional<std::int64_t> integer64(std::string_view name, std::int64_t min,
                                        std::int64_t max = kInt64Max) const;
  std::optional<double> number(std::string_view name, double min, double max) const;
  std::optional<Duration> duration(std::string_view name, bool positive = false) const;
  std::optional<std::uint64_t> size(std::string_view name) const;
  std::optional<std::vector<std::string>> strings(std::string_view name) const;
  std::optional<TableReader> subtable(std::string_view name) const;

  template <typename Enum>
  std::optional<Enum> choice(std::string_view name, std::initializer_list<Enum> options) const {
    const toml::node* node = find(name);
    if (node == nullptr) return std::nullopt;
    return read_choice(*node, key(name), options);
  }

 private:
  const toml::table& table_;
  std::string key_;
};

// --- checks shared by file values and overrides: the reason, or nullopt if fine ---

std::optional<std::string> check_queue_name(std::string_view name);
// A task name, or with ALLOW_PATTERN also "prefix.*" and "*".
std::optional<std::string> check_task_name(std::string_view name, bool allow_pattern);
// The name of a schedule or an alert: printable, at most kMaxQueueNameLength bytes.
std::optional<std::string> check_entry_name(std::string_view name);
std::optional<std::string> check_sql_identifier(std::string_view name);
std::optional<std::string> check_url(std::string_view url,
                                     std::initializer_list<std::string_view> schemes);
std::optional<std::string> check_host_port(std::string_view text);
std::optional<std::string> check_time_zone(std::string_view name);
// Every name configured in CONFIG, none twice, at least one.
std::optional<std::string> check_queue_list(const Config& config,
                                            const std::vector<std::string>& names);

// --- helpers shared by the sections ---

struct NamedEntry {
  std::string_view name;
  const toml::node* node;
};
// The entries of TABLE in the order the file wrote them (toml++ sorts keys).
std::vector<NamedEntry> in_file_order(const toml::table& table);
// Where tasks go when nothing routes them: "default", or the first queue
// when the file configures none of that name.
std::string default_task_queue(const Config& config);
// The reason QUEUE cannot be referred to, or nullopt when it is configured.
std::optional<std::string> check_queue_exists(const Config& config, std::string_view queue);

// --- the sections, read in this order by parse_config ---

void read_queues(const toml::table& root, Config& config);
void read_scalar_sections(const toml::table& root,
                          Config& config); // broker, database, worker, scheduler
void read_tasks(const toml::table& root, Config& config);
void read_schedules(const toml::table& root, Config& config);
void read_pools(const toml::table& root, Config& config);
void read_alerts(const toml::table& root, Config& config);

// A TOML value as JSON (args and kwargs); dates and times become ISO-8601 strings.
nlohmann::json toml_to_json(const toml::node& node, const std::string& key);

} // namespace celeriac::config_detail
