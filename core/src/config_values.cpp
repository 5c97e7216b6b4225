// Typed values from TOML nodes and from command-line text.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

constexpr std::string_view kDurationForm = "a duration such as \"30s\", \"5m\" or \"1h\"";
constexpr std::string_view kSizeForm = "a size in bytes, or a string such as \"512MiB\" or \"1GB\"";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

// Command-line text in messages: single quotes tell it apart from TOML strings.
std::string text_quoted(std::string_view text) {
  std::string shown = in_quotes(text); // "text", or "start"... when long
  const bool cut = shown.ends_with("...");
  if (cut) shown.resize(shown.size() - 3);
  return fmt::format("'{}'{}", std::string_view(shown).substr(1, shown.size() - 2),
                     cut ? "..." : "");
}

std::string integer_phrase(std::int64_t min, std::int64_t max) {
  const bool unbounded = max >= kIntMax;
  if (min == std::numeric_limits<std::int64_t>::min() && max == kInt64Max) return "an integer";
  if (unbounded && min == 1) return "a positive integer";
  if (unbounded && min == 0) return "a non-negative integer";
  if (unbounded) return fmt::format("an integer of at least {}", min);
  return fmt::format("an integer between {} and {}", min, max);
}

std::string integer_range_reason(std::int64_t min, std::int64_t max, std::int64_t got) {
  if (max >= kIntMax) return fmt::format("must be {}, got {}", integer_phrase(min, max), got);
  return fmt::format("must be between {} and {}, got {}", min, max, got);
}

std::uint64_t size_unit(std::string_view unit) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 10> kUnits = {{
      {"", 1},
      {"b", 1},
      {"kb", 1000},
      {"mb", 1000 * 1000},
      {"gb", 1000 * 1000 * 1000},
      {"tb", 1000ULL * 1000 * 1000 * 1000},
      {"kib", 1ULL << 10},
      {"mib", 1ULL << 20},
      {"gib", 1ULL << 30},
      {"tib", 1ULL << 40},
  }};
  const std::string name = lower(unit);
  for (const auto& [text, factor] : kUnits) {
    if (text == name) return factor;
  }
  return 0;
}

// "1048576", "512MiB", "1 GB": an integer and an optional unit.
std::optional<std::uint64_t> parse_size(std::string_view text) {
  text = trim(text);
  std::uint64_t count = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  const std::uint64_t factor = size_unit(trim(std::string_view(end, text.data() + text.size())));
  if (factor == 0 || count > std::numeric_limits<std::uint64_t>::max() / factor) {
    return std::nullopt;
  }
  return count * factor;
}

Duration positive_or_fail(Duration value, const toml::node& node, const std::string& key,
                          bool positive) {
  if (positive && value <= Duration::zero()) fail_at(node, key, "must be longer than 0s");
  return value;
}

} // namespace

std::string read_string(const toml::node& node, const std::string& key) {
  if (const auto* value = node.as_string()) return value->get();
  fail_at(node, key, fmt::format("must be a string, got {}", type_name(node)));
}

bool read_bool(const toml::node& node, const std::string& key) {
  if (const auto* value = node.as_boolean()) return value->get();
  fail_at(node, key, fmt::format("must be true or false, got {}", type_name(node)));
}

std::int64_t read_integer(const toml::node& node, const std::string& key, std::int64_t min,
                          std::int64_t max) {
  const auto* value = node.as_integer();
  if (value == nullptr) {
    fail_at(node, key,
            fmt::format("must be {}, got {}", integer_phrase(min, max), type_name(node)));
  }
  const std::int64_t got = value->get();
  if (got < min || got > max) fail_at(node, key, integer_range_reason(min, max, got));
  return got;
}

double read_number(const toml::node& node, const std::string& key, double min, double max) {
  double got = 0;
  if (const auto* integer = node.as_integer()) {
    got = static_cast<double>(integer->get());
  } else if (const auto* floating = node.as_floating_point()) {
    got = floating->get();
  } else {
    fail_at(node, key, fmt::format("must be a number, got {}", type_name(node)));
  }
  if (!std::isfinite(got) || got < min || got > max) {
    if (std::isinf(max)) fail_at(node, key, fmt::format("must be at least {}, got {}", min, got));
    fail_at(node, key, fmt::format("must be between {} and {}, got {}", min, max, got));
  }
  return got;
}

Duration read_duration(const toml::node& node, const std::string& key, bool positive) {
  if (const auto* text = node.as_string()) {
    if (auto value = parse_duration(text->get())) {
      return positive_or_fail(*value, node, key, positive);
    }
    fail_at(node, key, fmt::format("must be {}, got {}", kDurationForm, in_quotes(text->get())));
  }
  std::optional<double> seconds;
  if (const auto* integer = node.as_integer()) seconds = static_cast<double>(integer->get());
  if (const auto* floating = node.as_floating_point()) seconds = floating->get();
  if (!seconds) {
    fail_at(
        node, key,
        fmt::format("must be {} or a number of seconds, got {}", kDurationForm, type_name(node)));
  }
  if (auto value = from_seconds(*seconds)) return positive_or_fail(*value, node, key, positive);
  fail_at(node, key,
          fmt::format("must be a number of seconds from 0 to 100 years, got {}", *seconds));
}

std::uint64_t read_size(const toml::node& node, const std::string& key) {
  if (const auto* integer = node.as_integer()) {
    if (integer->get() >= 0) return static_cast<std::uint64_t>(integer->get());
    fail_at(node, key, fmt::format("must be {}, got {}", kSizeForm, integer->get()));
  }
  if (const auto* text = node.as_string()) {
    if (auto value = parse_size(text->get())) return *value;
    fail_at(node, key, fmt::format("must be {}, got {}", kSizeForm, in_quotes(text->get())));
  }
  fail_at(node, key, fmt::format("must be {}, got {}", kSizeForm, type_name(node)));
}

std::vector<std::string> read_strings(const toml::node& node, const std::string& key) {
  const auto* array = node.as_array();
  if (array == nullptr) {
    fail_at(node, key, fmt::format("must be an array of strings, got {}", type_name(node)));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < array->size(); ++i) {
    out.push_back(read_string(*array->get(i), index_key(key, i)));
  }
  return out;
}

const toml::table& read_table(const toml::node& node, const std::string& key) {
  if (const auto* table = node.as_table()) return *table;
  fail_at(node, key, fmt::format("must be a table, got {}", type_name(node)));
}

bool text_bool(std::string_view text, const std::string& key) {
  const std::string word = lower(trim(text));
  if (word == "true" || word == "yes" || word == "on" || word == "1") return true;
  if (word == "false" || word == "no" || word == "off" || word == "0") return false;
  throw ConfigError(key, fmt::format("must be true or false, got {}", text_quoted(text)));
}

std::int64_t text_integer(std::string_view text, const std::string& key, std::int64_t min,
                          std::int64_t max) {
  const std::string_view digits = trim(text);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const bool whole = error == std::errc() && end == digits.data() + digits.size();
  if (!whole || digits.empty() || value < min || value > max) {
    throw ConfigError(
        key, fmt::format("must be {}, got {}", integer_phrase(min, max), text_quoted(text)));
  }
  return value;
}

Duration text_duration(std::string_view text, const std::string& key, bool positive) {
  const auto value = parse_duration(trim(text));
  if (!value) {
    throw ConfigError(key, fmt::format("must be {}, got {}", kDurationForm, text_quoted(text)));
  }
  if (positive && *value <= Duration::zero()) {
    throw ConfigError(key, fmt::format("must be longer than 0s, got {}", text_quoted(text)));
  }
  return *value;
}

std::uint64_t text_size(std::string_view text, const std::string& key) {
  if (auto value = parse_size(text)) return *value;
  throw ConfigError(key, fmt::format("must be {}, got {}", kSizeForm, text_quoted(text)));
}

std::vector<std::string> text_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

} // namespace celeriac::config_detail
