// Delays of 0 to 3 s, many at once, through Broker::publish_delayed: each one
// arrives, once.
#include <doctest/doctest.h>

#include <map>

#include "broker_fixture.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

TEST_CASE("short delays, several in flight at once, all arrive") {
  const std::string name = test::unique_name("celeriac.test.delay.small.");
  test::BrokerFixture f({QueueSpec{name, false, 9}}, true);
  std::map<int, int> arrived;
  f.broker->consume({name}, 50, [&](Delivery&& d) {
    REQUIRE(d.job.has_value());
    arrived[d.job->args[0].get<int>()]++;
    f.broker->ack(d);
  });
  int confirmed = 0;
  for (int i = 0; i < 40; ++i) {
    f.broker->publish_delayed(test::test_job(name, 0, i), std::chrono::seconds(i % 4),
                              [&](const PublishResult& r) {
                                CHECK(r.status == PublishStatus::Confirmed);
                                ++confirmed;
                              });
  }
  test::run_until(
      &f.loop, [&] { return arrived.size() == 40; }, 15s);
  CHECK(confirmed == 40);
  std::string missing;
  for (int i = 0; i < 40; ++i)
    if (!arrived.contains(i)) missing += std::to_string(i) + " ";
  CHECK_MESSAGE(arrived.size() == 40, "missing: " << missing);
}
