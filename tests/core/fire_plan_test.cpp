// plan_fires: on-time fires, the three catch-up policies, the look-back and
// the cursor, on fixed instants (no clock).
#include "celeriac/core/fire_plan.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using celeriac::CatchUp;
using celeriac::CatchUpRule;
using celeriac::FirePlan;
using celeriac::Schedule;
using celeriac::Timestamp;
using namespace std::chrono_literals;

namespace {

Timestamp at(std::string_view iso) {
  const auto t = celeriac::parse_iso8601(iso);
  REQUIRE_MESSAGE(t.has_value(), iso);
  return *t;
}

std::vector<std::string> texts(const std::vector<Timestamp>& times) {
  std::vector<std::string> out;
  for (const auto t : times)
    out.push_back(celeriac::format_iso8601(t));
  return out;
}

std::vector<std::string> texts(std::initializer_list<std::string_view> isos) {
  std::vector<std::string> out;
  for (const auto iso : isos)
    out.push_back(celeriac::format_iso8601(at(iso)));
  return out;
}

CatchUpRule rule(CatchUp policy, celeriac::Duration lookback = 1h) {
  CatchUpRule r;
  r.policy = policy;
  r.lookback = lookback;
  return r;
}

const Schedule every_minute = Schedule::every(1min);

} // namespace

TEST_CASE("a fire due now is on time under every policy, and the cursor moves to it") {
  for (const auto policy : {CatchUp::Skip, CatchUp::Once, CatchUp::All}) {
    const FirePlan plan = plan_fires(every_minute, rule(policy), at("2026-11-24T10:00:00Z"),
                                     at("2026-11-24T10:01:00.300Z"));
    CHECK(texts(plan.due) == texts({"2026-11-24T10:01:00Z"}));
    CHECK(plan.missed == 0);
    CHECK(plan.cursor == at("2026-11-24T10:01:00Z"));
    REQUIRE(plan.next.has_value());
    CHECK(*plan.next == at("2026-11-24T10:02:00Z"));
  }
}

TEST_CASE("before the next fire nothing is due and the cursor stays") {
  const FirePlan plan = plan_fires(every_minute, rule(CatchUp::All), at("2026-11-24T10:01:00Z"),
                                   at("2026-11-24T10:01:59.999Z"));
  CHECK(plan.due.empty());
  CHECK(plan.cursor == at("2026-11-24T10:01:00Z"));
  CHECK(*plan.next == at("2026-11-24T10:02:00Z"));
}

TEST_CASE("after downtime: skip drops the missed fires, once fires the latest, all fires each") {
  const Timestamp last = at("2026-11-24T10:00:00Z");
  const Timestamp now = at("2026-11-24T10:04:30Z"); // 10:01 .. 10:04 missed, none on time

  const FirePlan skip = plan_fires(every_minute, rule(CatchUp::Skip), last, now);
  CHECK(skip.due.empty());
  CHECK(skip.missed == 4);
  CHECK(skip.cursor == at("2026-11-24T10:04:00Z"));

  const FirePlan once = plan_fires(every_minute, rule(CatchUp::Once), last, now);
  CHECK(texts(once.due) == texts({"2026-11-24T10:04:00Z"}));
  CHECK(once.missed == 3);

  const FirePlan all = plan_fires(every_minute, rule(CatchUp::All), last, now);
  CHECK(texts(all.due) == texts({"2026-11-24T10:01:00Z", "2026-11-24T10:02:00Z",
                                 "2026-11-24T10:03:00Z", "2026-11-24T10:04:00Z"}));
  CHECK(all.missed == 0);
  CHECK(*all.next == at("2026-11-24T10:05:00Z"));
}

TEST_CASE("once does not add a catch-up run when an on-time fire is due anyway") {
  const FirePlan plan = plan_fires(every_minute, rule(CatchUp::Once), at("2026-11-24T10:00:00Z"),
                                   at("2026-11-24T10:03:00.500Z"));
  CHECK(texts(plan.due) == texts({"2026-11-24T10:03:00Z"}));
  CHECK(plan.missed == 2);
}

TEST_CASE("the look-back bounds how far back missed fires are looked for") {
  const FirePlan plan = plan_fires(every_minute, rule(CatchUp::All, 2min + 20s),
                                   at("2026-11-24T09:00:00Z"), at("2026-11-24T10:04:30Z"));
  CHECK(texts(plan.due) == texts({"2026-11-24T10:03:00Z", "2026-11-24T10:04:00Z"}));
  CHECK(plan.cursor == at("2026-11-24T10:04:00Z"));
}

TEST_CASE("a 1-second schedule down for a day catches up at most kMaxFiresPerPlan, the latest") {
  const Schedule every_second = Schedule::every(1s);
  const FirePlan plan = plan_fires(every_second, rule(CatchUp::All, 24h),
                                   at("2026-11-23T10:00:00Z"), at("2026-11-24T10:00:00Z"));
  REQUIRE(plan.due.size() == celeriac::kMaxFiresPerPlan);
  CHECK(plan.due.back() == at("2026-11-24T10:00:00Z"));
  CHECK(plan.missed == 86400 - celeriac::kMaxFiresPerPlan);
}

TEST_CASE("DST fall-back: a fixed-hour cron plans one fire through the repeated hour") {
  // 01:00-01:59 happens twice in New York on 2026-11-01; the tick after
  // each pass sees one fire in total, at the first pass (05:30Z).
  const Schedule nightly = Schedule::cron("30 1 * * *", "America/New_York");
  const FirePlan first = plan_fires(nightly, rule(CatchUp::All), at("2026-11-01T05:00:00Z"),
                                    at("2026-11-01T05:30:00.010Z"));
  CHECK(texts(first.due) == texts({"2026-11-01T05:30:00Z"}));
  const FirePlan second =
      plan_fires(nightly, rule(CatchUp::All), first.cursor, at("2026-11-01T06:30:00.010Z"));
  CHECK(second.due.empty());
  CHECK(*second.next == at("2026-11-02T06:30:00Z"));
}

TEST_CASE("fire_period: the interval, or the gap to the next cron fire") {
  CHECK(*fire_period(every_minute, at("2026-11-24T10:00:00Z")) == 1min);
  const Schedule weekdays = Schedule::cron("0 9 * * 1-5", "UTC");
  CHECK(*fire_period(weekdays, at("2026-11-27T09:00:00Z")) == 72h); // Friday to Monday
}

TEST_CASE("schedule_of and catch_up_rule read a [[schedules]] entry") {
  celeriac::ScheduleConfig entry;
  entry.every = 5s;
  entry.catch_up = CatchUp::Once;
  entry.lookback = 10min;
  CHECK(schedule_of(entry) == Schedule::every(5s));
  CHECK(catch_up_rule(entry).policy == CatchUp::Once);
  CHECK(catch_up_rule(entry).lookback == 10min);
  entry.every.reset();
  entry.cron = "*/5 * * * *";
  entry.tz = "Europe/Berlin";
  CHECK(schedule_of(entry) == Schedule::cron("*/5 * * * *", "Europe/Berlin"));
}
