// CronExpression::parse: text to per-field bitsets. Matching is in cron.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <span>
#include <vector>

#include "celeriac/core/cron.hpp"
#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

// One cron field's shape. NAMES, when present, spell the values from MIN up.
struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  std::span<const std::string_view> names;
};

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

// Day-of-week runs to 7 so that `7` and `1-7` read as cron users expect;
// bit 7 is folded onto Sunday (bit 0) after parsing.
constexpr FieldSpec kSecond{"second", 0, 59, {}};
constexpr FieldSpec kMinute{"minute", 0, 59, {}};
constexpr FieldSpec kHour{"hour", 0, 23, {}};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, {}};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames};
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kWeekdayNames};

[[noreturn]] void fail(std::string reason) {
  throw InvalidInput("cron", std::move(reason));
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digits(std::string_view text) {
  return !text.empty() && std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; });
}

// ASCII-only, so bytes above 0x7f never reach <cctype>'s locale rules.
bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != b[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && is_space(text[pos]))
      ++pos;
    const auto start = pos;
    while (pos < text.size() && !is_space(text[pos]))
      ++pos;
    if (pos > start) fields.push_back(text.substr(start, pos - start));
  }
  return fields;
}

// A single value: a number in the field's range or one of its names.
int parse_value(std::string_view token, const FieldSpec& spec, std::string_view item) {
  if (token.empty()) fail(fmt::format("{} field has an empty value in '{}'", spec.name, item));
  if (is_digits(token)) {
    int value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc{} || value < spec.min || value > spec.max) {
      fail(fmt::format("{} field '{}' out of range {}-{}", spec.name, token, spec.min, spec.max));
    }
    return value;
  }
  for (std::size_t i = 0; i < spec.names.size(); ++i) {
    if (equals_ignoring_case(token, spec.names[i])) return spec.min + static_cast<int>(i);
  }
  if (spec.names.empty()) fail(fmt::format("{} field '{}' is not a number", spec.name, token));
  fail(fmt::format("{} field '{}' is neither a number nor a name", spec.name, token));
}

int parse_step(std::string_view token, const FieldSpec& spec, std::string_view item) {
  if (!is_digits(token)) {
    fail(fmt::format("{} field step '{}' is not a number in '{}'", spec.name, token, item));
  }
  int step = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), step);
  if (ec == std::errc{} && step == 0) fail(fmt::format("step must be positive in '{}'", item));
  // A step past the field's span selects just the start, as in Vixie cron.
  // Clamping keeps the value loop from overflowing and huge digit strings legal.
  if (ec == std::errc::result_out_of_range || step > spec.max + 1) return spec.max + 1;
  return step;
}

// One list item ("*", "a", "a-b", each optionally "/n") as a mask of values.
std::uint64_t parse_item(std::string_view item, const FieldSpec& spec) {
  const auto slash = item.find('/');
  const auto range = item.substr(0, slash);
  int first = spec.min;
  int last = spec.max;
  if (range != "*") {
    const auto dash = range.find('-');
    first = parse_value(range.substr(0, dash), spec, item);
    last = first;
    if (dash != std::string_view::npos) {
      last = parse_value(range.substr(dash + 1), spec, item);
      if (first > last) fail(fmt::format("{} field range '{}' runs backwards", spec.name, range));
    }
  }
  int step = 1;
  if (slash != std::string_view::npos) {
    step = parse_step(item.substr(slash + 1), spec, item);
    // "a/n" means a through the field's maximum, every n.
    if (range != "*" && range.find('-') == std::string_view::npos) last = spec.max;
  }
  std::uint64_t mask = 0;
  for (int value = first; value <= last; value += step)
    mask |= std::uint64_t{1} << value;
  return mask;
}

std::uint64_t parse_field(std::string_view text, const FieldSpec& spec) {
  std::uint64_t mask = 0;
  for (const auto item : split(text, ',')) {
    if (item.empty()) fail(fmt::format("{} field '{}' has an empty list item", spec.name, text));
    mask |= parse_item(item, spec);
  }
  return mask;
}

// The five-field line a macro stands for, or nullopt if TEXT is no macro we know.
std::optional<std::string_view> expand_macro(std::string_view text) {
  struct Macro {
    std::string_view name;
    std::string_view line;
  };
  static constexpr std::array<Macro, 7> kMacros = {{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  for (const auto& macro : kMacros) {
    if (equals_ignoring_case(text, macro.name)) return macro.line;
  }
  return std::nullopt;
}

} // namespace

CronExpression CronExpression::parse(std::string_view text) {
  CronExpression cron;
  cron.text_ = std::string(trim(text));
  auto fields = split_fields(cron.text_);
  if (!fields.empty() && fields[0].starts_with('@')) {
    const auto expanded = expand_macro(fields[0]);
    if (!expanded) fail(fmt::format("unknown macro '{}'", fields[0]));
    if (fields.size() > 1) fail(fmt::format("macro '{}' takes no fields", fields[0]));
    fields = split_fields(*expanded);
  }
  if (fields.size() != 5 && fields.size() != 6) {
    fail(fmt::format("expected 5 or 6 fields, got {}", fields.size()));
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  cron.seconds_ = std::bitset<60>(parse_field(fields[0], kSecond));
  cron.minutes_ = std::bitset<60>(parse_field(fields[1], kMinute));
  cron.hours_ = std::bitset<24>(parse_field(fields[2], kHour));
  cron.days_of_month_ = std::bitset<32>(parse_field(fields[3], kDayOfMonth));
  cron.months_ = std::bitset<13>(parse_field(fields[4], kMonth));
  auto weekdays = parse_field(fields[5], kDayOfWeek);
  if ((weekdays & (std::uint64_t{1} << 7)) != 0) weekdays |= 1;
  cron.days_of_week_ = std::bitset<7>(weekdays & 0x7f);
  cron.hour_wildcard_ = fields[2].starts_with('*');
  cron.day_of_month_wildcard_ = fields[3].starts_with('*');
  cron.day_of_week_wildcard_ = fields[5].starts_with('*');
  return cron;
}

} // namespace celeriac
