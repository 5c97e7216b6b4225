// Points in time and durations as celeriac passes them around, and their text
// forms. Pure: nothing here reads a clock; callers pass `now` in.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace celeriac {

// A UTC point in time with microsecond precision (what Celery's isoformat carries).
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;
using Duration = std::chrono::microseconds;

// Parses ISO-8601 as Celery and other clients send it: "2026-03-01T12:00:00",
// with optional fractional seconds (up to 9 digits, truncated to microseconds),
// and an optional offset "Z", "+01:00", "+0100" or "-05". A space may stand for
// the "T". A time without an offset is taken as UTC. Returns nullopt for
// anything else, including out-of-range fields (month 13, Feb 30, hour 24).
std::optional<Timestamp> parse_iso8601(std::string_view text);

// "2026-03-01T12:00:00.123456+00:00": Python's datetime.isoformat() of an
// aware UTC datetime, which Celery and kombu read back.
std::string format_iso8601(Timestamp t);

// Parses a duration: a bare number of seconds ("300", "1.5") or numbers with
// units us, ms, s, m, h, d, in any sum ("1h30m", "250ms", "2d"). Returns nullopt
// for anything else, negative values and values beyond 100 years.
std::optional<Duration> parse_duration(std::string_view text);

// The shortest form parse_duration reads back to the same value ("90s" -> "1m30s").
std::string format_duration(Duration d);

// Seconds as a double, for APIs that speak in seconds (Celery's countdown, time limits).
inline double to_seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// The duration nearest to SECONDS, or nullopt if it is negative, not finite or
// beyond 100 years.
std::optional<Duration> from_seconds(double seconds);

} // namespace celeriac
