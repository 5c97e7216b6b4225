#include "celeriac/core/time.hpp"

#include <date/date.h>
#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace celeriac {
namespace {

constexpr auto kMaxDuration = std::chrono::hours(24 * 366 * 100);

// Reads exactly WIDTH digits at POS; advances POS.
std::optional<int> digits(std::string_view text, std::size_t& pos, std::size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += width;
  return value;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos < text.size() && text[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

// Fractional seconds after the '.', as microseconds (extra digits truncated).
std::optional<std::int64_t> fraction(std::string_view text, std::size_t& pos) {
  std::int64_t micros = 0;
  std::size_t count = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    if (count < 6) micros = micros * 10 + (text[pos] - '0');
    ++count;
    ++pos;
  }
  if (count == 0 || count > 9) return std::nullopt;
  for (std::size_t i = count; i < 6; ++i)
    micros *= 10;
  return micros;
}

// "Z", "+HH:MM", "+HHMM", "+HH" (or '-'); absent means UTC. Returns seconds east of UTC.
std::optional<int> offset(std::string_view text, std::size_t& pos) {
  if (pos == text.size()) return 0;
  if (expect(text, pos, 'Z') || expect(text, pos, 'z')) return 0;
  const char sign = text[pos];
  if (sign != '+' && sign != '-') return std::nullopt;
  ++pos;
  auto hours = digits(text, pos, 2);
  if (!hours || *hours > 23) return std::nullopt;
  int minutes = 0;
  if (pos < text.size()) {
    expect(text, pos, ':');
    auto m = digits(text, pos, 2);
    if (!m || *m > 59) return std::nullopt;
    minutes = *m;
  }
  const int seconds = (*hours * 60 + minutes) * 60;
  return sign == '-' ? -seconds : seconds;
}

} // namespace

std::optional<Timestamp> parse_iso8601(std::string_view text) {
  std::size_t pos = 0;
  auto year = digits(text, pos, 4);
  // Year 0 would format as "-001" after an offset moves it back: out of range.
  if (!year || *year < 1 || !expect(text, pos, '-')) return std::nullopt;
  auto month = digits(text, pos, 2);
  if (!month || !expect(text, pos, '-')) return std::nullopt;
  auto day = digits(text, pos, 2);
  if (!day) return std::nullopt;
  const date::year_month_day ymd{date::year{*year}, date::month(static_cast<unsigned>(*month)),
                                 date::day(static_cast<unsigned>(*day))};
  if (!ymd.ok()) return std::nullopt;
  if (!expect(text, pos, 'T') && !expect(text, pos, 't') && !expect(text, pos, ' ')) {
    return std::nullopt;
  }
  auto hour = digits(text, pos, 2);
  if (!hour || *hour > 23 || !expect(text, pos, ':')) return std::nullopt;
  auto minute = digits(text, pos, 2);
  if (!minute || *minute > 59) return std::nullopt;
  int second = 0;
  if (expect(text, pos, ':')) {
    auto s = digits(text, pos, 2);
    if (!s || *s > 59) return std::nullopt;
    second = *s;
  }
  std::int64_t micros = 0;
  if (expect(text, pos, '.') || expect(text, pos, ',')) {
    auto f = fraction(text, pos);
    if (!f) return std::nullopt;
    micros = *f;
  }
  auto east = offset(text, pos);
  if (!east || pos != text.size()) return std::nullopt;
  using std::chrono::microseconds;
  using std::chrono::seconds;
  const auto local = date::sys_days{ymd} + std::chrono::hours(*hour) +
                     std::chrono::minutes(*minute) + seconds(second) + microseconds(micros);
  return std::chrono::time_point_cast<microseconds>(local - seconds(*east));
}

std::string format_iso8601(Timestamp t) {
  const auto days = std::chrono::floor<date::days>(t);
  const date::year_month_day ymd{days};
  const date::hh_mm_ss<Duration> tod{t - days};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}+00:00", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), tod.hours().count(),
                     tod.minutes().count(), tod.seconds().count(), tod.subseconds().count());
}

std::optional<Duration> from_seconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 ||
      seconds > std::chrono::duration<double>(kMaxDuration).count()) {
    return std::nullopt;
  }
  return Duration(std::llround(seconds * 1e6));
}

std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double bare = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), bare);
  if (ec == std::errc{} && end == text.data() + text.size()) return from_seconds(bare);

  double total_seconds = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    double value = 0;
    auto [num_end, num_ec] = std::from_chars(text.data() + pos, text.data() + text.size(), value);
    if (num_ec != std::errc{} || value < 0) return std::nullopt;
    pos = static_cast<std::size_t>(num_end - text.data());
    const std::size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos])))
      ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    double scale = 0;
    if (unit == "us")
      scale = 1e-6;
    else if (unit == "ms")
      scale = 1e-3;
    else if (unit == "s")
      scale = 1;
    else if (unit == "m")
      scale = 60;
    else if (unit == "h")
      scale = 3600;
    else if (unit == "d")
      scale = 86400;
    else
      return std::nullopt;
    total_seconds += value * scale;
  }
  return from_seconds(total_seconds);
}

std::string format_duration(Duration d) {
  using namespace std::chrono;
  if (d == Duration::zero()) return "0s";
  std::string out;
  auto take = [&](Duration unit, const char* suffix) {
    const auto n = d / unit;
    if (n > 0) {
      out += fmt::format("{}{}", n, suffix);
      d -= n * unit;
    }
  };
  take(hours(24), "d");
  take(hours(1), "h");
  take(minutes(1), "m");
  take(seconds(1), "s");
  take(milliseconds(1), "ms");
  take(microseconds(1), "us");
  return out;
}

} // namespace celeriac
