// Bodies of more than one frame go out frame by frame as the socket has room,
// while the other channels carry on between their frames (here: a consumer
// acking on channel 2). Every body must arrive whole and unchanged.
#include <doctest/doctest.h>

#include "broker_fixture.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

namespace {

// A body of SIZE bytes that says which message it is all along.
std::string patterned_body(std::size_t size, int seq) {
  std::string body(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    body[i] = static_cast<char>('a' + (static_cast<std::size_t>(seq) + i / 4096) % 26);
  return body;
}

} // namespace

TEST_CASE("streamed bodies arrive whole while another channel acks between their frames") {
  const std::string small = test::unique_name("celeriac.test.stream.small.");
  const std::string big = test::unique_name("celeriac.test.stream.big.");
  test::BrokerFixture f({QueueSpec{small, false, 9}, QueueSpec{big, false, 9}}, false,
                        [](BrokerOptions& options) { options.limits.max_body_bytes = 8 << 20; });
  constexpr int kBig = 24;               // 24 × 3 MiB: several times what the socket holds
  constexpr std::size_t kSize = 3 << 20; // 25 frames each
  constexpr int kSmall = 2000;
  std::size_t confirmed = 0;
  std::size_t failed = 0;
  int small_seen = 0;
  std::vector<int> big_seen;
  int corrupt = 0;
  f.broker->consume({small, big}, 50, [&](Delivery&& d) {
    if (d.queue == small) {
      ++small_seen;
    } else {
      const int seq = std::stoi(d.raw.properties.correlation_id);
      big_seen.push_back(seq);
      if (d.raw.body != patterned_body(kSize, seq)) ++corrupt;
    }
    f.broker->ack(d);
  });
  auto count = [&](const PublishResult& r) {
    (r.status == PublishStatus::Confirmed ? confirmed : failed)++;
  };
  for (int i = 0; i < kBig; ++i) {
    Message m;
    m.properties.correlation_id = std::to_string(i);
    m.body = patterned_body(kSize, i);
    f.broker->publish(Outgoing{"", big, std::move(m), count});
    for (int j = 0; j < kSmall / kBig; ++j)
      f.broker->publish(test::test_job(small, 0, i * 1000 + j), count);
  }
  const std::size_t total = kBig + (kSmall / kBig) * kBig;
  REQUIRE(test::run_until(
      &f.loop,
      [&] {
        return confirmed + failed == total && big_seen.size() == kBig &&
               small_seen == (kSmall / kBig) * kBig;
      },
      120s));
  CHECK(failed == 0);
  CHECK(corrupt == 0);
  std::vector<int> want(kBig);
  for (int i = 0; i < kBig; ++i)
    want[static_cast<std::size_t>(i)] = i;
  CHECK(big_seen == want);
  CHECK(f.broker->reconnects() == 0);
}
