#include "celeriac/core/schedule.hpp"

#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

namespace chrono = std::chrono;
using chrono::local_seconds;
using chrono::seconds;
using chrono::sys_seconds;

// Years a cron search may start in; date's calendar and the zone data cover them.
constexpr sys_seconds kFirstInstant{chrono::sys_days{chrono::year{1} / 1 / 1}};
constexpr sys_seconds kEndInstant{chrono::sys_days{chrono::year{10000} / 1 / 1}};

// No zone has ever moved its clocks by a day or more at once; a transition
// further back than this cannot make a later local time repeat.
constexpr seconds kLargestShift = chrono::hours(24);

local_seconds to_local(sys_seconds t, seconds offset) {
  return local_seconds{t.time_since_epoch() + offset};
}

sys_seconds to_sys(local_seconds t, seconds offset) {
  return sys_seconds{t.time_since_epoch() - offset};
}

// A stretch of time with one UTC offset, and the offset just before it.
struct Segment {
  sys_seconds begin;
  sys_seconds end;
  seconds offset;
  seconds previous_offset;
};

Segment segment_at(const date::time_zone& zone, sys_seconds t, sys_seconds from) {
  const auto info = zone.get_info(t);
  // Only a transition near FROM can create a gap or a repeat that matters.
  const auto previous = info.begin + kLargestShift < from
                            ? info.offset
                            : zone.get_info(info.begin - seconds(1)).offset;
  return Segment{info.begin, info.end, info.offset, previous};
}

// The first fire in SEGMENT at or after FROM and before UNTIL (the DST rules
// of schedule.hpp are applied here).
std::optional<sys_seconds> first_fire_in(const CronExpression& cron, const Segment& segment,
                                         sys_seconds from, sys_seconds until) {
  const bool fixed_hour = !cron.hour_is_wildcard();
  const bool gap = segment.previous_offset < segment.offset;
  const bool repeat = segment.previous_offset > segment.offset;
  if (fixed_hour && gap && segment.begin >= from && segment.begin < until) {
    // Skipped local times [begin + previous, begin + offset): any match there
    // fires at the transition.
    if (cron.next_match(to_local(segment.begin, segment.previous_offset),
                        to_local(segment.begin, segment.offset))) {
      return segment.begin;
    }
  }
  const auto start = std::max(from, segment.begin);
  const auto end = std::min(segment.end, until);
  if (start >= end) return std::nullopt;
  auto local_start = to_local(start, segment.offset);
  if (fixed_hour && repeat) {
    // Local times before begin + previous already happened once, before the shift.
    local_start = std::max(local_start, to_local(segment.begin, segment.previous_offset));
  }
  const auto match = cron.next_match(local_start, to_local(end, segment.offset));
  if (!match) return std::nullopt;
  return to_sys(*match, segment.offset);
}

std::optional<sys_seconds> next_cron_fire(const CronExpression& cron, const date::time_zone& zone,
                                          sys_seconds from, sys_seconds until) {
  auto segment = segment_at(zone, from, from);
  while (true) {
    if (const auto fire = first_fire_in(cron, segment, from, until)) return fire;
    if (segment.end >= until) return std::nullopt;
    segment = segment_at(zone, segment.end, from);
  }
}

std::optional<Timestamp> next_interval_fire(Duration every, Timestamp anchor, Timestamp t) {
  if (t < anchor) return anchor;
  // Overflow only happens for instants hundreds of millennia apart; they have no next fire.
  std::int64_t since = 0;
  if (__builtin_sub_overflow(t.time_since_epoch().count(), anchor.time_since_epoch().count(),
                             &since)) {
    return std::nullopt;
  }
  std::int64_t steps = since / every.count();
  std::int64_t offset = 0;
  std::int64_t fire = 0;
  if (__builtin_add_overflow(steps, 1, &steps) ||
      __builtin_mul_overflow(steps, every.count(), &offset) ||
      __builtin_add_overflow(anchor.time_since_epoch().count(), offset, &fire)) {
    return std::nullopt;
  }
  return Timestamp{Duration{fire}};
}

const date::time_zone& find_zone(std::string_view tz) {
  try {
    return *date::locate_zone(std::string(tz));
  } catch (const std::runtime_error&) {
    throw InvalidInput("tz", fmt::format("unknown time zone '{}'", tz));
  }
}

} // namespace

Schedule Schedule::cron(std::string_view expression, std::string_view tz) {
  auto parsed = CronExpression::parse(expression);
  return Schedule(Cron{std::move(parsed), &find_zone(tz)});
}

Schedule Schedule::every(Duration every, Timestamp anchor) {
  if (every <= Duration::zero()) {
    throw InvalidInput("every", fmt::format("must be positive, got {}us", every.count()));
  }
  return Schedule(Interval{every, anchor});
}

std::optional<Timestamp> Schedule::next_after(Timestamp t) const {
  if (const auto* interval = std::get_if<Interval>(&spec_)) {
    return next_interval_fire(interval->every, interval->anchor, t);
  }
  const auto& spec = std::get<Cron>(spec_);
  if (t < kFirstInstant || t >= kEndInstant) return std::nullopt;
  // Cron fires on whole seconds, so "strictly after t" starts at the next one.
  const auto from = chrono::floor<seconds>(t) + seconds(1);
  const auto until = from + chrono::duration_cast<seconds>(kHorizon);
  const auto fire = next_cron_fire(spec.expression, *spec.zone, from, until);
  if (!fire) return std::nullopt;
  return Timestamp{*fire};
}

std::string Schedule::describe() const {
  if (const auto* interval = std::get_if<Interval>(&spec_)) {
    if (interval->anchor == Timestamp{})
      return fmt::format("every {}", format_duration(interval->every));
    return fmt::format("every {} from {}", format_duration(interval->every),
                       format_iso8601(interval->anchor));
  }
  const auto& spec = std::get<Cron>(spec_);
  return fmt::format("cron '{}' in {}", spec.expression.text(), spec.zone->name());
}

const CronExpression* Schedule::cron_expression() const noexcept {
  const auto* spec = std::get_if<Cron>(&spec_);
  return spec != nullptr ? &spec->expression : nullptr;
}

std::string Schedule::time_zone_name() const {
  const auto* spec = std::get_if<Cron>(&spec_);
  return spec != nullptr ? spec->zone->name() : std::string();
}

bool Schedule::operator==(const Schedule& other) const {
  if (const auto* mine = std::get_if<Cron>(&spec_)) {
    const auto* theirs = std::get_if<Cron>(&other.spec_);
    return theirs != nullptr && mine->expression == theirs->expression &&
           mine->zone == theirs->zone;
  }
  const auto& mine = std::get<Interval>(spec_);
  const auto* theirs = std::get_if<Interval>(&other.spec_);
  return theirs != nullptr && mine.every == theirs->every && mine.anchor == theirs->anchor;
}

} // namespace celeriac
