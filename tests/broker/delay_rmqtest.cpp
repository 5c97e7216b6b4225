// Delays live in the broker: jobs delayed by 1 s, 5 s and 37 s arrive in their
// queue within 1 s of their due time, routed through the binary delay levels.
#include <doctest/doctest.h>

#include <map>

#include "broker_fixture.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST_CASE("delayed jobs arrive within 1 s of their due time") {
  const std::string name = test::unique_name("celeriac.test.delay.");
  test::BrokerFixture f({QueueSpec{name, false, 9}}, /*delays=*/true);
  const std::vector<int> delays{1, 5, 37};
  std::map<int, Clock::time_point> due;
  std::map<int, Clock::time_point> arrived;
  std::size_t confirmed = 0;
  for (int seconds : delays) {
    due[seconds] = Clock::now() + std::chrono::seconds(seconds);
    f.broker->publish_delayed(test::test_job(name, 0, seconds), std::chrono::seconds(seconds),
                              [&](const PublishResult& r) {
                                CHECK(r.status == PublishStatus::Confirmed);
                                ++confirmed;
                              });
  }
  f.broker->consume({name}, 10, [&](Delivery&& d) {
    REQUIRE(d.job.has_value());
    arrived[d.job->args[0].get<int>()] = Clock::now();
    f.broker->ack(d);
  });
  REQUIRE(test::run_until(
      &f.loop, [&] { return arrived.size() == delays.size(); }, 60s));
  CHECK(confirmed == delays.size());
  for (int seconds : delays) {
    const auto late = std::chrono::duration<double>(arrived[seconds] - due[seconds]).count();
    INFO("delay ", seconds, " s arrived ", late, " s after due");
    CHECK(late > -0.05); // never early
    CHECK(late < 1.0);
  }
}

TEST_CASE("a delayed job reaches its own queue only, not one whose name is a dotted suffix") {
  const std::string tail = test::unique_name("x");
  const std::string suffix = "celeriac.test." + tail; // "X"
  const std::string full = "jira." + suffix;          // "jira.X"
  test::BrokerFixture f({QueueSpec{suffix, false, 9}, QueueSpec{full, false, 9}}, true);
  std::vector<std::string> arrived;
  f.broker->consume({full, suffix}, 10, [&](Delivery&& d) {
    arrived.push_back(d.queue);
    f.broker->ack(d);
  });
  f.broker->publish_delayed(test::test_job(full, 0, 1), 1s, [](const PublishResult& r) {
    CHECK(r.status == PublishStatus::Confirmed);
  });
  REQUIRE(test::run_until(
      &f.loop, [&] { return !arrived.empty(); }, 10s));
  test::run_until(
      &f.loop, [] { return false; }, 1s); // a copy would arrive in the same instant
  CHECK(arrived == std::vector<std::string>{full});
}
