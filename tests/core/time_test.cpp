#include <doctest/doctest.h>

#include "celeriac/core/time.hpp"

using celeriac::Duration;
using celeriac::format_duration;
using celeriac::format_iso8601;
using celeriac::parse_duration;
using celeriac::parse_iso8601;
using namespace std::chrono_literals;

namespace {
celeriac::Timestamp utc(const char* text) {
  auto t = parse_iso8601(text);
  REQUIRE(t.has_value());
  return *t;
}
} // namespace

TEST_CASE("ISO-8601 as Celery sends it") {
  CHECK(format_iso8601(utc("2030-05-17T09:30:15.250000+00:00")) ==
        "2030-05-17T09:30:15.250000+00:00");
  CHECK(utc("2030-05-17T09:30:15.25Z") == utc("2030-05-17T09:30:15.250000+00:00"));
  SUBCASE("offsets move the instant to UTC") {
    CHECK(utc("2030-05-17T11:30:15+02:00") == utc("2030-05-17T09:30:15Z"));
    CHECK(utc("2030-05-17T04:30:15-0500") == utc("2030-05-17T09:30:15Z"));
    CHECK(utc("2030-05-17T04:30:15-05") == utc("2030-05-17T09:30:15Z"));
  }
  SUBCASE("a naive time is UTC") {
    CHECK(utc("2030-01-02T03:04:05") == utc("2030-01-02T03:04:05Z"));
  }
  SUBCASE("a space may separate date and time; minutes-only precision") {
    CHECK(utc("2030-01-02 03:04") == utc("2030-01-02T03:04:00Z"));
  }
  SUBCASE("nanoseconds truncate to microseconds") {
    CHECK(format_iso8601(utc("2030-01-02T03:04:05.123456789Z")) ==
          "2030-01-02T03:04:05.123456+00:00");
  }
  SUBCASE("leap day") {
    CHECK(format_iso8601(utc("2028-02-29T23:59:59Z")) == "2028-02-29T23:59:59.000000+00:00");
    CHECK(utc("2028-02-29T23:59:59Z") + 1s == utc("2028-03-01T00:00:00Z"));
  }
}

TEST_CASE("malformed ISO-8601 is rejected") {
  for (const char* bad :
       {"", "2030", "2030-13-01T00:00:00", "2030-02-30T00:00:00", "2029-02-29T00:00:00",
        "2030-01-01T24:00:00", "2030-01-01T00:60:00", "2030-01-01T00:00:60", "2030-01-01",
        "2030-01-01T00:00:00+25:00", "2030-01-01T00:00:00 junk", "2030-01-01T00:00:00.", "x"}) {
    INFO(bad);
    CHECK_FALSE(parse_iso8601(bad).has_value());
  }
}

TEST_CASE("durations") {
  CHECK(parse_duration("300") == Duration(300s));
  CHECK(parse_duration("1.5") == Duration(1500ms));
  CHECK(parse_duration("1h30m") == Duration(90min));
  CHECK(parse_duration("250ms") == Duration(250ms));
  CHECK(parse_duration("2d") == Duration(48h));
  CHECK(parse_duration("1m30s") == Duration(90s));
  for (const char* bad : {"", "5x", "-1", "-5s", "s", "1h-5m", "1e400", "nan", "400000d"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  SUBCASE("format reads back") {
    for (Duration d : {Duration(0s), Duration(90s), Duration(25h + 1ms), Duration(7us)}) {
      CHECK(parse_duration(format_duration(d)) == d);
    }
    CHECK(format_duration(90s) == "1m30s");
    CHECK(format_duration(48h) == "2d");
  }
}
