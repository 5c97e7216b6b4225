#include <doctest/doctest.h>

#include <random>

#include "celeriac/core/retry_policy.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {
const TaskError kNetwork{ErrorKind::Network, std::nullopt, "connection reset"};
const UniformRandom kZero = [] { return 0.0; };
const UniformRandom kOne = [] { return 0.999999; };

Duration delay_of(const RetryDecision& d) {
  REQUIRE(std::holds_alternative<RetryAt>(d));
  return std::get<RetryAt>(d).delay;
}
std::string reason_of(const RetryDecision& d) {
  REQUIRE(std::holds_alternative<GiveUp>(d));
  return std::get<GiveUp>(d).reason;
}
} // namespace

TEST_CASE("exponential backoff: 60 s x 2^n, capped") {
  RetryPolicy p{.max_retries = 10,
                .backoff = ExponentialBackoff{60s, 2.0},
                .max_delay = 1800s,
                .jitter = Jitter::None};
  CHECK(delay_of(decide(p, 0, kNetwork, {}, kZero)) == Duration(60s));
  CHECK(delay_of(decide(p, 1, kNetwork, {}, kZero)) == Duration(120s));
  CHECK(delay_of(decide(p, 2, kNetwork, {}, kZero)) == Duration(240s));
  CHECK(delay_of(decide(p, 5, kNetwork, {}, kZero)) == Duration(1800s));
  CHECK(backoff_delay(p, 1000) == Duration(1800s)); // pow overflows to inf; the cap holds
}

TEST_CASE("fixed backoff and max_retries") {
  RetryPolicy p{.max_retries = 2, .backoff = FixedBackoff{300s}, .jitter = Jitter::None};
  CHECK(delay_of(decide(p, 0, kNetwork, {}, kZero)) == Duration(300s));
  CHECK(delay_of(decide(p, 1, kNetwork, {}, kZero)) == Duration(300s));
  CHECK(reason_of(decide(p, 2, kNetwork, {}, kZero)) == "max retries (2) exceeded");
}

TEST_CASE("error classes: only transient errors retry by default") {
  RetryPolicy p;
  CHECK(std::holds_alternative<RetryAt>(decide(p, 0, {ErrorKind::Http, 429, ""}, {}, kZero)));
  CHECK(std::holds_alternative<RetryAt>(decide(p, 0, {ErrorKind::Http, 503, ""}, {}, kZero)));
  CHECK(std::holds_alternative<RetryAt>(decide(p, 0, {ErrorKind::WorkerLost, {}, ""}, {}, kZero)));
  CHECK(reason_of(decide(p, 0, {ErrorKind::Http, 404, ""}, {}, kZero)) ==
        "permanent error (HTTP 404) is not retried");
  CHECK(reason_of(decide(p, 0, {ErrorKind::Validation, {}, ""}, {}, kZero)) ==
        "permanent error (validation) is not retried");
  CHECK(std::holds_alternative<GiveUp>(decide(p, 0, {ErrorKind::UnknownTask, {}, ""}, {}, kZero)));
  CHECK(std::holds_alternative<GiveUp>(decide(p, 0, {ErrorKind::Unclassified, {}, ""}, {}, kZero)));
  SUBCASE("retry_on = all retries anything; none retries nothing") {
    p.retry_on = RetryOn::All;
    CHECK(std::holds_alternative<RetryAt>(decide(p, 0, {ErrorKind::Http, 404, ""}, {}, kZero)));
    p.retry_on = RetryOn::None;
    CHECK(std::holds_alternative<GiveUp>(decide(p, 0, kNetwork, {}, kZero)));
  }
  SUBCASE("an explicit Retry{} is honoured under any retry_on, within max_retries") {
    p.retry_on = RetryOn::None;
    const TaskError asked{ErrorKind::RetryRequested, {}, "rate limited upstream"};
    CHECK(delay_of(decide(p, 0, asked, 10s, kZero)) == Duration(10s));
    CHECK(std::holds_alternative<GiveUp>(decide(p, p.max_retries, asked, 10s, kZero)));
  }
}

TEST_CASE("hints (Retry-After, Retry{after}) override the delay but never exceed max") {
  RetryPolicy p{.max_retries = 5, .backoff = FixedBackoff{60s}, .max_delay = 600s};
  CHECK(delay_of(decide(p, 0, kNetwork, 120s, kOne)) == Duration(120s)); // no jitter on hints
  CHECK(delay_of(decide(p, 0, kNetwork, 3600s, kOne)) == Duration(600s));
  CHECK(delay_of(decide(p, 0, kNetwork, Duration(-5s), kOne)) == Duration(0s));
}

TEST_CASE("jitter: full spans [0, d], equal spans [d/2, d]") {
  RetryPolicy p{.max_retries = 5, .backoff = FixedBackoff{100s}, .jitter = Jitter::Full};
  CHECK(delay_of(decide(p, 0, kNetwork, {}, kZero)) == Duration(0s));
  CHECK(delay_of(decide(p, 0, kNetwork, {}, [] { return 1.0; })) == Duration(100s));
  CHECK(delay_of(decide(p, 0, kNetwork, {}, [] { return 0.5; })) == Duration(50s));
  p.jitter = Jitter::Equal;
  CHECK(delay_of(decide(p, 0, kNetwork, {}, kZero)) == Duration(50s));
  CHECK(delay_of(decide(p, 0, kNetwork, {}, [] { return 1.0; })) == Duration(100s));
}

TEST_CASE("property: delays are never negative, never above max, attempts respected") {
  std::mt19937_64 rng(20261124);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const UniformRandom random = [&] { return unit(rng); };
  for (int trial = 0; trial < 2000; ++trial) {
    RetryPolicy p;
    p.max_retries = static_cast<int>(rng() % 8);
    p.max_delay = Duration(1 + static_cast<std::int64_t>(rng() % 3'600'000'000ULL));
    p.jitter = static_cast<Jitter>(rng() % 3);
    if (rng() % 2 == 0) {
      p.backoff = FixedBackoff{Duration(static_cast<std::int64_t>(rng() % 7'200'000'000ULL))};
    } else {
      p.backoff = ExponentialBackoff{Duration(static_cast<std::int64_t>(rng() % 100'000'000)),
                                     1.0 + unit(rng) * 4};
    }
    const int attempt = static_cast<int>(rng() % 12);
    std::optional<Duration> hint;
    if (rng() % 4 == 0) hint = Duration(static_cast<std::int64_t>(rng() % 10'000'000'000ULL));
    const RetryDecision d = decide(p, attempt, kNetwork, hint, random);
    if (attempt >= p.max_retries) {
      CHECK(std::holds_alternative<GiveUp>(d));
      continue;
    }
    const Duration delay = delay_of(d);
    CHECK(delay >= Duration::zero());
    CHECK(delay <= p.max_delay);
    if (!hint && p.jitter == Jitter::None) CHECK(delay == backoff_delay(p, attempt));
    if (!hint && p.jitter != Jitter::None) CHECK(delay <= backoff_delay(p, attempt));
  }
}
