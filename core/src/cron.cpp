// CronExpression matching on wall-clock time. Parsing is in cron_parse.cpp.
#include "celeriac/core/cron.hpp"

namespace celeriac {
namespace {

namespace chrono = std::chrono;

// The lowest set bit at FROM or above, or nullopt.
template <std::size_t N>
std::optional<int> next_bit(const std::bitset<N>& bits, int from) {
  for (auto i = static_cast<std::size_t>(from < 0 ? 0 : from); i < N; ++i) {
    if (bits[i]) return static_cast<int>(i);
  }
  return std::nullopt;
}

// Midnight of the first day of the next month that MONTHS allows, after DAY's month.
chrono::local_days next_allowed_month(const std::bitset<13>& months, chrono::year_month_day day) {
  const auto current = static_cast<int>(static_cast<unsigned>(day.month()));
  if (const auto later = next_bit(months, current + 1)) {
    return chrono::local_days{day.year() / chrono::month(static_cast<unsigned>(*later)) / 1};
  }
  // Parsing guarantees at least one month, so there is a first one next year.
  const auto first = next_bit(months, 1).value_or(1);
  return chrono::local_days{(day.year() + chrono::years(1)) /
                            chrono::month(static_cast<unsigned>(first)) / 1};
}

} // namespace

bool CronExpression::matches_day(chrono::year_month_day day) const {
  if (!months_[static_cast<unsigned>(day.month())]) return false;
  const bool by_month_day = days_of_month_[static_cast<unsigned>(day.day())];
  const bool by_weekday = days_of_week_[chrono::weekday(chrono::sys_days(day)).c_encoding()];
  // Vixie cron: two restricted day fields widen the match; a `*` in either narrows it.
  if (day_of_month_wildcard_ || day_of_week_wildcard_) return by_month_day && by_weekday;
  return by_month_day || by_weekday;
}

bool CronExpression::matches(chrono::local_seconds at) const {
  const auto day = chrono::floor<chrono::days>(at);
  const chrono::hh_mm_ss time{at - day};
  return matches_day(chrono::year_month_day{day}) &&
         hours_[static_cast<std::size_t>(time.hours().count())] &&
         minutes_[static_cast<std::size_t>(time.minutes().count())] &&
         seconds_[static_cast<std::size_t>(time.seconds().count())];
}

std::optional<chrono::seconds> CronExpression::first_time_at_or_after(chrono::seconds tod) const {
  const chrono::hh_mm_ss time{tod};
  auto hour = static_cast<int>(time.hours().count());
  auto minute = static_cast<int>(time.minutes().count());
  auto second = static_cast<int>(time.seconds().count());
  // Each pass either returns or moves to a later minute or hour, so this ends
  // after at most two passes per allowed hour.
  while (true) {
    const auto next_hour = next_bit(hours_, hour);
    if (!next_hour) return std::nullopt;
    if (*next_hour != hour) {
      hour = *next_hour;
      minute = 0;
      second = 0;
    }
    const auto next_minute = next_bit(minutes_, minute);
    if (!next_minute) {
      ++hour;
      minute = second = 0;
      continue;
    }
    if (*next_minute != minute) {
      minute = *next_minute;
      second = 0;
    }
    if (const auto next_second = next_bit(seconds_, second)) {
      return chrono::hours(hour) + chrono::minutes(minute) + chrono::seconds(*next_second);
    }
    ++minute;
    second = 0;
  }
}

std::optional<chrono::local_seconds> CronExpression::next_match(chrono::local_seconds from,
                                                                chrono::local_seconds until) const {
  auto at = from;
  while (at < until) {
    const auto day = chrono::floor<chrono::days>(at);
    const chrono::year_month_day date{day};
    if (!months_[static_cast<unsigned>(date.month())]) {
      at = next_allowed_month(months_, date);
      continue;
    }
    if (matches_day(date)) {
      if (const auto time = first_time_at_or_after(at - day)) {
        const auto found = day + *time;
        if (found < until) return found;
        return std::nullopt;
      }
    }
    at = day + chrono::days(1);
  }
  return std::nullopt;
}

} // namespace celeriac
