#include "config_reader.hpp"

#include <algorithm>
#include <cmath>

namespace celeriac::config_detail {
namespace {

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string escaped(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\u{:04X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

// Levenshtein distance, for suggesting the key a typo meant.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

} // namespace

std::optional<int> line_of(const toml::node& node) {
  const auto line = node.source().begin.line;
  if (line == 0 || line > static_cast<unsigned>(kIntMax)) return std::nullopt;
  return static_cast<int>(line);
}

std::string key_segment(std::string_view name) {
  if (!name.empty() && std::all_of(name.begin(), name.end(), is_bare_key_char)) {
    return std::string(name);
  }
  return fmt::format("\"{}\"", escaped(name));
}

std::string join_key(std::string_view parent, std::string_view name) {
  if (parent.empty()) return key_segment(name);
  return fmt::format("{}.{}", parent, key_segment(name));
}

std::string index_key(std::string_view parent, std::size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

std::string in_quotes(std::string_view text) {
  constexpr std::size_t kLongest = 80;
  if (text.size() <= kLongest) return fmt::format("\"{}\"", escaped(text));
  return fmt::format("\"{}\"...", escaped(text.substr(0, kLongest)));
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string unknown_key_reason(std::string_view name, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = 3; // further than two edits is not a typo
  for (const std::string_view candidate : known) {
    const std::size_t distance = edit_distance(name, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best.empty()) return "unknown key";
  return fmt::format("unknown key (did you mean \"{}\"?)", best);
}

void fail_at(const toml::node& node, const std::string& key, std::string reason) {
  throw ConfigError(key, std::move(reason), line_of(node));
}

std::optional<std::size_t> find_choice(std::string_view text,
                                       std::span<const std::string_view> names) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return i;
  }
  return std::nullopt;
}

std::string choice_reason(std::span<const std::string_view> names, std::string_view got) {
  std::string list;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) list += i + 1 == names.size() ? " or " : ", ";
    list += fmt::format("\"{}\"", names[i]);
  }
  return fmt::format("must be {}, got {}", list, in_quotes(got));
}

void TableReader::allow_only(std::span<const std::string_view> names) const {
  for (const auto& [name, node] : table_) {
    if (std::find(names.begin(), names.end(), name.str()) != names.end()) continue;
    fail_at(node, key(name.str()), unknown_key_reason(name.str(), names));
  }
}

void TableReader::reject_unquoted_dots(std::string_view section, std::string_view name,
                                       std::initializer_list<std::string_view> subtables) const {
  for (const auto& [child, node] : table_) {
    if (!node.is_table() ||
        std::find(subtables.begin(), subtables.end(), child.str()) != subtables.end()) {
      continue;
    }
    const std::string meant = fmt::format("{}.{}", name, child.str());
    fail_at(node, key(child.str()),
            fmt::format("unknown key (a name with dots needs quotes: [{}.{}])", section,
                        key_segment(meant)));
  }
}

const toml::node* TableReader::find(std::string_view name) const {
  return table_.get(name);
}

void TableReader::fail(std::string_view name, std::string reason) const {
  const toml::node* node = find(name);
  throw ConfigError(key(name), std::move(reason), node != nullptr ? line_of(*node) : line());
}

std::optional<std::string> TableReader::string(std::string_view name) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_string(*node, key(name));
}

std::string TableReader::required_string(std::string_view name) const {
  auto value = string(name);
  if (!value) fail(name, "is required");
  return std::move(*value);
}

std::optional<bool> TableReader::boolean(std::string_view name) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_bool(*node, key(name));
}

std::optional<int> TableReader::integer(std::string_view name, int min, int max) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return static_cast<int>(read_integer(*node, key(name), min, max));
}

std::optional<std::int64_t> TableReader::integer64(std::string_view name, std::int64_t min,
                                                   std::int64_t max) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_integer(*node, key(name), min, max);
}

std::optional<double> TableReader::number(std::string_view name, double min, double max) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_number(*node, key(name), min, max);
}

std::optional<Duration> TableReader::duration(std::string_view name, bool positive) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_duration(*node, key(name), positive);
}

std::optional<std::uint64_t> TableReader::size(std::string_view name) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_size(*node, key(name));
}

std::optional<std::vector<std::string>> TableReader::strings(std::string_view name) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return read_strings(*node, key(name));
}

std::optional<TableReader> TableReader::subtable(std::string_view name) const {
  const toml::node* node = find(name);
  if (node == nullptr) return std::nullopt;
  return TableReader(read_table(*node, key(name)), key(name));
}

} // namespace celeriac::config_detail
