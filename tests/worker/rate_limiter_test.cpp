#include <doctest/doctest.h>

#include "celeriac/core/rate_limit.hpp"
#include "celeriac/worker/rate_limiter.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {
const Timestamp kT0 = *parse_iso8601("2026-11-24T08:00:00Z");
}

TEST_CASE("rates parse as Celery writes them") {
  CHECK(parse_rate_limit("10/s") == RateLimit{10, 1s});
  CHECK(parse_rate_limit("100/m") == RateLimit{100, 1min});
  CHECK(parse_rate_limit("2.5/h") == RateLimit{2.5, 1h});
  CHECK(parse_rate_limit("7") == RateLimit{7, 1s});
  for (const char* bad : {"", "0", "-1/s", "10/d", "ten/s", "10/", "/s", "inf", "nan/s"})
    CHECK_MESSAGE(!parse_rate_limit(bad), bad);
  CHECK(rate_interval(RateLimit{10, 1min}) == 6s);
  CHECK(rate_interval(RateLimit{4, 1s}) == 250ms);
}

TEST_CASE("starts of one task are spaced evenly; other tasks are not held") {
  RateLimiter limiter;
  const RateLimit rate{10, 1min};
  CHECK(limiter.reserve("a", rate, kT0) == 0s);
  CHECK(limiter.reserve("a", rate, kT0) == 6s);
  CHECK(limiter.next_slot_in("a", kT0 + 1s) == 11s); // asking reserves nothing
  CHECK(limiter.reserve("a", rate, kT0 + 1s) == 11s);
  CHECK(limiter.next_slot_in("a", kT0 + 1s) == 17s);
  CHECK(limiter.next_slot_in("b", kT0) == 0s);
  CHECK(limiter.reserve("b", rate, kT0 + 1s) == 0s);
  // Idle for long: no credit piles up (a bucket of one token).
  CHECK(limiter.reserve("b", rate, kT0 + 1h) == 0s);
  CHECK(limiter.reserve("b", rate, kT0 + 1h) == 6s);
}

TEST_CASE("a runtime override replaces the defined limit, and can lift it") {
  RateLimiter limiter;
  const std::optional<RateLimit> defined = RateLimit{1, 1s};
  CHECK(limiter.effective("a", defined) == defined);
  CHECK(limiter.reserve("a", *defined, kT0) == 0s);
  CHECK(limiter.reserve("a", *defined, kT0) == 1s);
  limiter.set_override("a", RateLimit{100, 1s});
  CHECK(limiter.effective("a", defined) == RateLimit{100, 1s});
  CHECK(limiter.reserve("a", RateLimit{100, 1s}, kT0) == 0s); // the old schedule is forgotten
  CHECK(limiter.reserve("a", RateLimit{100, 1s}, kT0) == 10ms);
  limiter.set_override("a", std::nullopt);
  CHECK_FALSE(limiter.effective("a", defined));
  CHECK(limiter.effective("b", std::nullopt) == std::nullopt);
}
