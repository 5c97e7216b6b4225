// Schedule: when a periodic job fires. Either a cron expression read in an
// IANA time zone, or a fixed interval. Immutable after construction; const
// members are safe from any thread. Pure: nothing reads a clock, the caller
// passes the instant to search from. The only outside input is the OS time
// zone database (/usr/share/zoneinfo), read once per zone by date/tz.
// Factories throw InvalidInput for a bad expression, zone or interval.
//
// DST, for cron schedules. A job is "fixed-hour" unless its hour field starts
// with `*` (`*` or `*/n`), the same test Vixie cron uses.
//   Repeated local times (fall-back): a fixed-hour job fires once, at the first
//   occurrence (the earlier instant). A wildcard-hour job follows real time and
//   fires in both passes.
//   Skipped local times (spring-forward): a fixed-hour job whose matching local
//   time falls in the gap fires once, at the first instant after the gap (the
//   transition itself). A wildcard-hour job has no fires in the gap.
// The same rules hold for any shift size (Australia/Lord_Howe moves 30 minutes).
// Zone rules come from the compiled TZif transitions, which end in 2037: from
// then on each zone keeps its last offset.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "celeriac/core/cron.hpp"
#include "celeriac/core/time.hpp"

namespace date {
class time_zone;
} // namespace date

namespace celeriac {

class Schedule {
 public:
  // How far next_after looks ahead before it reports that nothing fires.
  static constexpr auto kHorizon = std::chrono::years(5);

  // EXPRESSION (cron.hpp syntax) in the IANA zone TZ, e.g. "Europe/Berlin".
  // Throws InvalidInput("cron", ...) or InvalidInput("tz", "unknown time zone 'X'").
  static Schedule cron(std::string_view expression, std::string_view tz = "UTC");
  // Fires at anchor, anchor + every, anchor + 2*every, ... and never before
  // the anchor; the default anchor (the Unix epoch) makes `every 5m` fire on
  // :00, :05, ... Throws InvalidInput("every", ...) unless EVERY > 0.
  static Schedule every(Duration every, Timestamp anchor = Timestamp{});

  // The first fire time strictly after T. Cron schedules give whole seconds
  // and nullopt when nothing fires within kHorizon of T (`0 0 31 2 *`), or
  // when T is outside the years 1-9999. Intervals give nullopt only when the
  // next fire is not representable.
  std::optional<Timestamp> next_after(Timestamp t) const;

  // For logs and the CLI: "cron '30 2 * * *' in Europe/Berlin", "every 5m".
  std::string describe() const;

  bool is_cron() const noexcept { return std::holds_alternative<Cron>(spec_); }
  // The cron expression, or nullptr for an interval.
  const CronExpression* cron_expression() const noexcept;
  // The zone's IANA name for cron schedules; empty for intervals.
  std::string time_zone_name() const;

  bool operator==(const Schedule& other) const;

 private:
  struct Cron {
    CronExpression expression;
    const date::time_zone* zone; // owned by date's tz database, which lives for the program
  };
  struct Interval {
    Duration every;
    Timestamp anchor;
  };

  explicit Schedule(std::variant<Cron, Interval> spec) : spec_(std::move(spec)) {}

  std::variant<Cron, Interval> spec_;
};

} // namespace celeriac
