// A body over max_body_bytes is refused as it arrives: its frames are counted
// and dropped, never assembled, and the consumer gets a "too large" delivery
// with the headers and properties to dead-letter it by; the connection stays
// up and the next message comes through.
#include <doctest/doctest.h>

#include "broker_fixture.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

TEST_CASE("an oversized body is dropped as it arrives; the next message is delivered") {
  const std::string name = test::unique_name("celeriac.test.oversized.");
  constexpr std::size_t kLimit = 64 * 1024;
  test::BrokerFixture f({QueueSpec{name, false, 9}}, false,
                        [](BrokerOptions& options) { options.limits.max_body_bytes = kLimit; });
  Message hostile = encode_job(test::test_job(name, 0, 1));
  constexpr std::size_t kHostile = 8 * 1024 * 1024;
  hostile.body.assign(kHostile, ' ');
  std::size_t confirmed = 0;
  auto count = [&](const PublishResult& r) {
    CHECK(r.status == PublishStatus::Confirmed);
    ++confirmed;
  };
  f.broker->publish(Outgoing{"", name, hostile, count});
  f.broker->publish(test::test_job(name, 0, 2), count);
  REQUIRE(test::run_until(
      &f.loop, [&] { return confirmed == 2; }, 30s));

  std::vector<Delivery> got;
  f.broker->consume({name}, 5, [&](Delivery&& d) {
    CHECK(f.broker->ack(d));
    got.push_back(std::move(d));
  });
  REQUIRE(test::run_until(
      &f.loop, [&] { return got.size() == 2; }, 30s));
  const Delivery& big = got[0];
  CHECK_FALSE(big.job.has_value());
  INFO(big.error.value_or("(no error)"));
  CHECK(big.error.value_or("").find(std::to_string(kHostile)) != std::string::npos);
  CHECK(big.error.value_or("").find(std::to_string(kLimit)) != std::string::npos);
  CHECK(big.raw.body.empty()); // never held in memory
  CHECK(big.raw.properties.correlation_id == hostile.properties.correlation_id);
  CHECK(big.raw.headers == hostile.headers);
  REQUIRE(got[1].job.has_value());
  CHECK(got[1].job->args[0] == 2);
  CHECK(f.broker->connected());
  CHECK(f.broker->reconnects() == 0);
}
