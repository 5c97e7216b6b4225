#include "celeriac/core/schedule.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "celeriac/core/error.hpp"

using celeriac::format_iso8601;
using celeriac::InvalidInput;
using celeriac::Schedule;
using celeriac::Timestamp;
using namespace std::chrono_literals;

namespace {

Timestamp at(std::string_view iso) {
  const auto t = celeriac::parse_iso8601(iso);
  REQUIRE_MESSAGE(t.has_value(), iso);
  return *t;
}

// Instants compare as text so that a failure prints both sides readably.
std::string iso(std::string_view text) {
  return format_iso8601(at(text));
}

std::string next(const Schedule& schedule, std::string_view from) {
  const auto fire = schedule.next_after(at(from));
  return fire ? format_iso8601(*fire) : "none";
}

// Every fire strictly after FROM and before UNTIL, by repeated next_after.
std::vector<Timestamp> fires(const Schedule& schedule, std::string_view from,
                             std::string_view until) {
  std::vector<Timestamp> out;
  auto t = at(from);
  while (const auto fire = schedule.next_after(t)) {
    if (*fire >= at(until)) break;
    REQUIRE(*fire > t);
    out.push_back(*fire);
    t = *fire;
  }
  return out;
}

// Whether consecutive fires are exactly STEP apart in real time.
bool evenly_spaced(const std::vector<Timestamp>& times, celeriac::Duration step) {
  for (std::size_t i = 1; i < times.size(); ++i) {
    if (times[i] - times[i - 1] != step) return false;
  }
  return true;
}

std::vector<std::string> texts(const std::vector<Timestamp>& times) {
  std::vector<std::string> out;
  for (const auto t : times)
    out.push_back(format_iso8601(t));
  return out;
}

} // namespace

TEST_CASE("next_after is strictly after t") {
  const auto every5 = Schedule::cron("*/5 * * * *");
  CHECK(next(every5, "2026-01-01T12:03:00Z") == iso("2026-01-01T12:05:00Z"));
  CHECK(next(every5, "2026-01-01T12:04:59.999999Z") == iso("2026-01-01T12:05:00Z"));
  CHECK(next(every5, "2026-01-01T12:05:00Z") == iso("2026-01-01T12:10:00Z"));
  CHECK(next(Schedule::cron("* * * * *"), "2026-01-01T12:00:00.000001Z") ==
        iso("2026-01-01T12:01:00Z"));
}

TEST_CASE("next_after crosses month and year ends") {
  CHECK(next(Schedule::cron("0 0 31 * *"), "2026-04-01T00:00:00Z") == iso("2026-05-31T00:00:00Z"));
  CHECK(next(Schedule::cron("59 23 31 12 *"), "2026-12-31T23:59:00Z") ==
        iso("2027-12-31T23:59:00Z"));
  CHECK(next(Schedule::cron("0 0 1 1 *"), "2026-12-31T23:59:59.5Z") == iso("2027-01-01T00:00:00Z"));
  CHECK(next(Schedule::cron("@monthly"), "2026-01-31T00:00:00Z") == iso("2026-02-01T00:00:00Z"));
  CHECK(next(Schedule::cron("0 12 * feb,nov *"), "2026-03-01T00:00:00Z") ==
        iso("2026-11-01T12:00:00Z"));
}

TEST_CASE("leap days") {
  const auto leap = Schedule::cron("0 0 29 2 *");
  CHECK(next(leap, "2025-03-01T00:00:00Z") == iso("2028-02-29T00:00:00Z"));
  CHECK(next(leap, "2028-02-29T00:00:00Z") == iso("2032-02-29T00:00:00Z"));
  // 2100 is not a leap year: the next leap day after 2096 is 8 years away,
  // beyond the 5-year horizon.
  CHECK(next(leap, "2096-03-01T00:00:00Z") == "none");
}

TEST_CASE("seconds field") {
  const auto cron = Schedule::cron("*/20 * * * * *");
  CHECK(next(cron, "2026-01-01T12:00:05Z") == iso("2026-01-01T12:00:20Z"));
  CHECK(next(cron, "2026-01-01T12:00:20.5Z") == iso("2026-01-01T12:00:40Z"));
  CHECK(next(cron, "2026-01-01T12:00:40Z") == iso("2026-01-01T12:01:00Z"));
  CHECK(next(Schedule::cron("30 0 0 * * *"), "2026-01-01T00:00:30Z") ==
        iso("2026-01-02T00:00:30Z"));
}

TEST_CASE("Vixie day semantics in next_after") {
  // April 2026: Fridays are the 3rd, 10th, 17th, 24th; the 13th is a Monday.
  CHECK(
      texts(fires(Schedule::cron("0 0 13 * 5"), "2026-04-01T00:00:00Z", "2026-04-20T00:00:00Z")) ==
      std::vector<std::string>{iso("2026-04-03T00:00:00Z"), iso("2026-04-10T00:00:00Z"),
                               iso("2026-04-13T00:00:00Z"), iso("2026-04-17T00:00:00Z")});
  CHECK(
      texts(fires(Schedule::cron("0 0 */2 * 5"), "2026-04-01T00:00:00Z", "2026-05-02T00:00:00Z")) ==
      std::vector<std::string>{iso("2026-04-03T00:00:00Z"), iso("2026-04-17T00:00:00Z"),
                               iso("2026-05-01T00:00:00Z")});
  CHECK(next(Schedule::cron("@weekly"), "2026-04-01T00:00:00Z") == iso("2026-04-05T00:00:00Z"));
}

TEST_CASE("impossible expressions return nullopt") {
  for (const std::string expression :
       {"0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30 2 */2"}) {
    CAPTURE(expression);
    CHECK(next(Schedule::cron(expression), "2026-01-01T00:00:00Z") == "none");
    CHECK(next(Schedule::cron(expression, "America/New_York"), "2026-01-01T00:00:00Z") == "none");
    CHECK(next(Schedule::cron(expression, "Australia/Lord_Howe"), "2026-01-01T00:00:00Z") ==
          "none");
  }
}

TEST_CASE("instants outside years 1-9999 have no cron fire") {
  const auto cron = Schedule::cron("* * * * *");
  CHECK_FALSE(cron.next_after(Timestamp::max()).has_value());
  CHECK_FALSE(cron.next_after(Timestamp::min()).has_value());
  CHECK(next(cron, "0001-01-01T00:00:00Z") == iso("0001-01-01T00:01:00Z"));
}

TEST_CASE("cron in a zone without DST") {
  const auto tokyo = Schedule::cron("0 9 * * mon-fri", "Asia/Tokyo");
  // Friday 2026-04-03 09:00 JST has passed at 01:00Z; Monday is next.
  CHECK(next(tokyo, "2026-04-03T01:00:00Z") == iso("2026-04-06T00:00:00Z"));
}

TEST_CASE("intervals fire on the anchor's lattice") {
  const auto every5 = Schedule::every(5min);
  CHECK(next(every5, "2026-01-01T12:03:00Z") == iso("2026-01-01T12:05:00Z"));
  CHECK(next(every5, "2026-01-01T12:05:00Z") == iso("2026-01-01T12:10:00Z"));
  CHECK(next(every5, "2026-01-01T12:09:59.999999Z") == iso("2026-01-01T12:10:00Z"));

  const auto hourly = Schedule::every(1h, at("2026-01-01T00:00:07Z"));
  CHECK(next(hourly, "2026-01-01T05:00:00Z") == iso("2026-01-01T05:00:07Z"));
  CHECK(next(hourly, "2026-01-01T05:00:07Z") == iso("2026-01-01T06:00:07Z"));
  CHECK(next(hourly, "2025-06-01T00:00:00Z") == iso("2026-01-01T00:00:07Z"));

  CHECK(next(Schedule::every(1500ms), "2026-01-01T00:00:01Z") == iso("2026-01-01T00:00:01.5Z"));
  CHECK_FALSE(Schedule::every(1h).next_after(Timestamp::max()).has_value());
  CHECK_FALSE(Schedule::every(1us, Timestamp::min()).next_after(Timestamp::max()).has_value());
}

TEST_CASE("intervals must be positive") {
  for (const auto every : {celeriac::Duration::zero(), celeriac::Duration(-5s)}) {
    try {
      Schedule::every(every);
      FAIL("a non-positive interval was accepted");
    } catch (const InvalidInput& e) {
      CHECK(e.field() == "every");
    }
  }
}

TEST_CASE("zones are looked up by IANA name") {
  try {
    Schedule::cron("* * * * *", "Mars/Base");
    FAIL("an unknown zone was accepted");
  } catch (const InvalidInput& e) {
    CHECK(e.field() == "tz");
    CHECK(e.reason() == "unknown time zone 'Mars/Base'");
  }
  CHECK_THROWS_AS(Schedule::cron("* * * * *", ""), InvalidInput);
  CHECK_THROWS_WITH_AS(Schedule::cron("61 * * * *", "UTC"),
                       "cron: minute field '61' out of range 0-59", InvalidInput);
}

TEST_CASE("describe, accessors and equality") {
  const auto berlin = Schedule::cron("30 2 * * *", "Europe/Berlin");
  CHECK(berlin.describe() == "cron '30 2 * * *' in Europe/Berlin");
  CHECK(berlin.is_cron());
  CHECK(berlin.time_zone_name() == "Europe/Berlin");
  REQUIRE(berlin.cron_expression() != nullptr);
  CHECK(berlin.cron_expression()->text() == "30 2 * * *");
  CHECK(berlin == Schedule::cron("30 2 * * *", "Europe/Berlin"));
  CHECK_FALSE(berlin == Schedule::cron("30 2 * * *", "UTC"));

  CHECK(Schedule::every(5min).describe() == "every 5m");
  CHECK(Schedule::every(1h, at("2026-01-01T00:00:07Z")).describe() ==
        "every 1h from 2026-01-01T00:00:07.000000+00:00");
  CHECK_FALSE(Schedule::every(5min).is_cron());
  CHECK(Schedule::every(5min).cron_expression() == nullptr);
  CHECK(Schedule::every(5min) == Schedule::every(300s));
  CHECK_FALSE(Schedule::every(5min) == berlin);
}

// America/New_York 2026: 02:00 EST -> 03:00 EDT on 03-08 at 07:00Z;
// 02:00 EDT -> 01:00 EST on 11-01 at 06:00Z.
TEST_CASE("New York fall-back: a fixed-hour job fires once, at the first 01:30") {
  const auto job = Schedule::cron("30 1 * * *", "America/New_York");
  CHECK(next(job, "2026-10-31T06:00:00Z") == iso("2026-11-01T05:30:00Z")); // 01:30 EDT
  CHECK(next(job, "2026-11-01T05:30:00Z") == iso("2026-11-02T06:30:00Z")); // not 01:30 EST
  CHECK(next(job, "2026-11-01T05:45:00Z") == iso("2026-11-02T06:30:00Z")); // inside the repeat
  CHECK(next(job, "2026-11-01T06:10:00Z") == iso("2026-11-02T06:30:00Z")); // second pass
  CHECK(fires(job, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z").size() == 3);
}

TEST_CASE("New York spring-forward: a skipped fixed time fires at the end of the gap") {
  const auto job = Schedule::cron("30 2 * * *", "America/New_York");
  CHECK(next(job, "2026-03-07T00:00:00Z") == iso("2026-03-07T07:30:00Z")); // 02:30 EST
  CHECK(next(job, "2026-03-07T07:30:00Z") == iso("2026-03-08T07:00:00Z")); // 03:00 EDT
  CHECK(next(job, "2026-03-08T07:00:00Z") == iso("2026-03-09T06:30:00Z")); // 02:30 EDT
  // Two skipped times in one job still make one fire.
  const auto twice = Schedule::cron("0,30 2 * * *", "America/New_York");
  CHECK(texts(fires(twice, "2026-03-08T05:00:00Z", "2026-03-09T05:00:00Z")) ==
        std::vector<std::string>{iso("2026-03-08T07:00:00Z")});
}

TEST_CASE("New York: wildcard-hour jobs follow real time through both changes") {
  const auto quarter = Schedule::cron("*/15 * * * *", "America/New_York");
  // The 25-hour local day of 11-01: 100 fires, 15 real minutes apart,
  // including 01:00-01:45 EDT and again 01:00-01:45 EST.
  const auto fall = fires(quarter, "2026-11-01T03:59:59Z", "2026-11-02T05:00:00Z");
  CHECK(fall.size() == 100);
  CHECK(format_iso8601(fall.front()) == iso("2026-11-01T04:00:00Z"));
  CHECK(evenly_spaced(fall, 15min));
  // The 23-hour local day of 03-08: 92 fires, 01:45 EST straight to 03:00 EDT.
  const auto spring = fires(quarter, "2026-03-08T04:59:59Z", "2026-03-09T04:00:00Z");
  CHECK(spring.size() == 92);
  CHECK(format_iso8601(spring.front()) == iso("2026-03-08T05:00:00Z"));
  CHECK(evenly_spaced(spring, 15min));
  CHECK(fires(Schedule::cron("@hourly", "America/New_York"), "2026-11-01T03:59:59Z",
              "2026-11-02T05:00:00Z")
            .size() == 25);
}

TEST_CASE("New York: a job listing every hour is fixed-hour, once per local hour") {
  const auto job = Schedule::cron("0 0-23 * * *", "America/New_York");
  const auto fall = fires(job, "2026-11-01T03:59:59Z", "2026-11-02T05:00:00Z");
  CHECK(fall.size() == 24); // 01:00 EST is the second 01:00: skipped
  CHECK(std::find(fall.begin(), fall.end(), at("2026-11-01T06:00:00Z")) == fall.end());
  const auto spring = fires(job, "2026-03-08T04:59:59Z", "2026-03-09T04:00:00Z");
  CHECK(spring.size() == 23); // 02:00 and 03:00 both land on 03:00 EDT, once
}

// Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on 03-29 at 01:00Z;
// 03:00 CEST -> 02:00 CET on 10-25 at 01:00Z.
TEST_CASE("Berlin: the last Sundays of March and October") {
  const auto job = Schedule::cron("30 2 * * *", "Europe/Berlin");
  CHECK(texts(fires(job, "2026-03-27T12:00:00Z", "2026-03-31T00:00:00Z")) ==
        std::vector<std::string>{iso("2026-03-28T01:30:00Z"), iso("2026-03-29T01:00:00Z"),
                                 iso("2026-03-30T00:30:00Z")});
  CHECK(texts(fires(job, "2026-10-23T12:00:00Z", "2026-10-27T00:00:00Z")) ==
        std::vector<std::string>{iso("2026-10-24T00:30:00Z"), iso("2026-10-25T00:30:00Z"),
                                 iso("2026-10-26T01:30:00Z")});
  const auto at_two = Schedule::cron("0 2 * * *", "Europe/Berlin");
  CHECK(next(at_two, "2026-10-24T12:00:00Z") == iso("2026-10-25T00:00:00Z"));
  CHECK(next(at_two, "2026-10-25T00:00:00Z") == iso("2026-10-26T01:00:00Z"));
}

TEST_CASE("Berlin: wildcard-hour jobs over the 25- and 23-hour days") {
  const auto half = Schedule::cron("*/30 * * * *", "Europe/Berlin");
  const auto fall = fires(half, "2026-10-24T21:59:59Z", "2026-10-25T23:00:00Z");
  CHECK(fall.size() == 50);
  CHECK(evenly_spaced(fall, 30min));
  const auto spring = fires(half, "2026-03-28T22:59:59Z", "2026-03-29T22:00:00Z");
  CHECK(spring.size() == 46);
  CHECK(evenly_spaced(spring, 30min));
}

// Australia/Lord_Howe 2026: 02:00 +11 -> 01:30 +10:30 on 04-05 (04-04T15:00Z);
// 02:00 +10:30 -> 02:30 +11 on 10-04 (10-03T15:30Z).
TEST_CASE("Lord Howe: a 30-minute spring-forward") {
  // Every matching time in the skipped 02:00-02:29 fires once, at 02:30 +11.
  for (const std::string expression : {"0 2 * * *", "15 2 * * *", "0,15,30 2 * * *"}) {
    CAPTURE(expression);
    const auto job = Schedule::cron(expression, "Australia/Lord_Howe");
    CHECK(next(job, "2026-10-03T00:00:00Z") == iso("2026-10-03T15:30:00Z"));
  }
  const auto three = Schedule::cron("0,15,30 2 * * *", "Australia/Lord_Howe");
  CHECK(texts(fires(three, "2026-10-03T00:00:00Z", "2026-10-04T16:00:00Z")) ==
        std::vector<std::string>{iso("2026-10-03T15:30:00Z"), iso("2026-10-04T15:00:00Z"),
                                 iso("2026-10-04T15:15:00Z"), iso("2026-10-04T15:30:00Z")});
  const auto after_gap = Schedule::cron("45 2 * * *", "Australia/Lord_Howe");
  CHECK(next(after_gap, "2026-10-03T00:00:00Z") == iso("2026-10-03T15:45:00Z"));
  const auto quarter = Schedule::cron("*/15 * * * *", "Australia/Lord_Howe");
  CHECK(texts(fires(quarter, "2026-10-03T15:00:00Z", "2026-10-03T16:00:00Z")) ==
        std::vector<std::string>{iso("2026-10-03T15:15:00Z"), iso("2026-10-03T15:30:00Z"),
                                 iso("2026-10-03T15:45:00Z")});
  const auto day = fires(quarter, "2026-10-03T13:29:59Z", "2026-10-04T13:00:00Z");
  CHECK(day.size() == 94); // a 23.5-hour local day
  CHECK(evenly_spaced(day, 15min));
}

TEST_CASE("Lord Howe: a 30-minute fall-back") {
  const auto job = Schedule::cron("45 1 * * *", "Australia/Lord_Howe");
  CHECK(next(job, "2026-04-04T00:00:00Z") == iso("2026-04-04T14:45:00Z")); // 01:45 +11
  CHECK(next(job, "2026-04-04T14:45:00Z") == iso("2026-04-05T15:15:00Z")); // next day, +10:30
  const auto quarter = Schedule::cron("*/15 * * * *", "Australia/Lord_Howe");
  CHECK(texts(fires(quarter, "2026-04-04T14:20:00Z", "2026-04-04T15:40:00Z")) ==
        std::vector<std::string>{iso("2026-04-04T14:30:00Z"), iso("2026-04-04T14:45:00Z"),
                                 iso("2026-04-04T15:00:00Z"), iso("2026-04-04T15:15:00Z"),
                                 iso("2026-04-04T15:30:00Z")});
  const auto day = fires(quarter, "2026-04-04T12:59:59Z", "2026-04-05T13:30:00Z");
  CHECK(day.size() == 98); // a 24.5-hour local day
  CHECK(evenly_spaced(day, 15min));
}
