// plan_fires: which fire times of a schedule are due at an instant, given the
// last fire time already handled and the schedule's catch-up policy. Pure: the
// scheduler passes its clock's reading (docs/scheduler.md "Catch-up").
//
// A fire is *on time* when it is at most `grace` old; on-time fires are always
// due. Older ones are *missed* (the scheduler was down, or failing over):
//   skip  none of them is fired;
//   once  the latest missed one is fired, unless an on-time fire is due anyway;
//   all   every one is fired, oldest first.
// Only missed fires within `lookback` of now are looked at; older ones are
// dropped whatever the policy, and not counted.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "celeriac/core/config.hpp"
#include "celeriac/core/schedule.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

// How late a fire may be published and still count as on time.
inline constexpr Duration kOnTimeGrace = std::chrono::seconds(1);
// The most fires one plan returns (a 1-second schedule catching up a day): the
// latest ones are kept.
inline constexpr std::size_t kMaxFiresPerPlan = 10000;

struct FirePlan {
  std::vector<Timestamp> due;    // to fire now, oldest first
  std::size_t missed = 0;        // missed fires within the look-back the policy drops
  Timestamp cursor;              // the last fire time this plan handled (fired or dropped)
  std::optional<Timestamp> next; // the first fire time after now; nullopt: none within the horizon
};

struct CatchUpRule {
  CatchUp policy = CatchUp::Skip;
  Duration lookback = std::chrono::hours(1);
  Duration grace = kOnTimeGrace;
};

// The Schedule a [[schedules]] entry describes: its cron in its zone, or its
// interval anchored at the Unix epoch. Throws InvalidInput as Schedule does.
Schedule schedule_of(const ScheduleConfig& config);
// The entry's catch-up policy and look-back, with the default grace.
CatchUpRule catch_up_rule(const ScheduleConfig& config);

// The fires of SCHEDULE in (AFTER, NOW] and what to do with them under RULE.
// The cursor is AFTER when nothing fell in that window (so it never moves
// backwards), otherwise the latest fire time in it.
FirePlan plan_fires(const Schedule& schedule, const CatchUpRule& rule, Timestamp after,
                    Timestamp now);

// The period a fire at FIRE_TIME belongs to: the time until the schedule's
// next fire after it (the interval itself for `every`); the default expiry of
// its job, so a run still queued when the next one is due is dropped.
std::optional<Duration> fire_period(const Schedule& schedule, Timestamp fire_time);

} // namespace celeriac
