// CronExpression: a parsed cron line, matched against local wall-clock time.
// Pure and immutable once parsed; const members are safe from any thread.
// parse() throws InvalidInput (field "cron") naming the bad part. Time zones
// and DST are not handled here: that is Schedule's job (schedule.hpp).
//
// Syntax: 5 fields "minute hour day-of-month month day-of-week", or 6 with a
// leading seconds field. Each field is a comma list of `*`, `a`, `a-b`, `*/n`,
// `a-b/n` or `a/n` (a through the field's maximum, every n). Months take
// JAN-DEC, weekdays SUN-SAT (any case); weekday 0 and 7 are both Sunday.
// Macros: @yearly = @annually, @monthly, @weekly, @daily = @midnight, @hourly.
//
// Day matching is Vixie cron's: when both day-of-month and day-of-week are
// restricted (neither field's text starts with `*`), a day matches if either
// does; otherwise both must (so `0 0 */2 * 5` means odd days that are Fridays).
#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace celeriac {

class CronExpression {
 public:
  // Throws InvalidInput("cron", reason) for anything outside the syntax above.
  static CronExpression parse(std::string_view text);

  // The text as given, without surrounding whitespace (macros stay macros).
  const std::string& text() const noexcept { return text_; }

  // Allowed values; a bit per value. Day-of-month and month leave bit 0 unused;
  // day-of-week uses 0-6 with Sunday at 0.
  const std::bitset<60>& seconds() const noexcept { return seconds_; }
  const std::bitset<60>& minutes() const noexcept { return minutes_; }
  const std::bitset<24>& hours() const noexcept { return hours_; }
  const std::bitset<32>& days_of_month() const noexcept { return days_of_month_; }
  const std::bitset<13>& months() const noexcept { return months_; }
  const std::bitset<7>& days_of_week() const noexcept { return days_of_week_; }

  // Whether the hour field's text starts with `*` (`*` or `*/n`). Such jobs
  // follow real time across DST changes; others are fixed-hour jobs.
  bool hour_is_wildcard() const noexcept { return hour_wildcard_; }

  // Whether DAY passes the month, day-of-month and day-of-week fields.
  bool matches_day(std::chrono::year_month_day day) const;
  // Whether the wall-clock second AT matches every field.
  bool matches(std::chrono::local_seconds at) const;

  // The first matching wall-clock second in [from, until), or nullopt. Skips
  // whole months, days, hours and minutes that cannot match, so a span of
  // years costs at most a few thousand steps.
  std::optional<std::chrono::local_seconds> next_match(std::chrono::local_seconds from,
                                                       std::chrono::local_seconds until) const;

  bool operator==(const CronExpression&) const = default;

 private:
  CronExpression() = default;

  // The first allowed time of day at or after TOD (seconds since midnight).
  std::optional<std::chrono::seconds> first_time_at_or_after(std::chrono::seconds tod) const;

  std::string text_;
  std::bitset<60> seconds_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;
  std::bitset<13> months_;
  std::bitset<7> days_of_week_;
  bool hour_wildcard_ = false;
  bool day_of_month_wildcard_ = false;
  bool day_of_week_wildcard_ = false;
};

} // namespace celeriac
