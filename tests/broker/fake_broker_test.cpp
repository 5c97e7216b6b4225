// The FakeBroker: the JobBroker conformance suite on its fake clock, then what
// only a fake can show quickly (delays of minutes and years, exact prefetch
// accounting, refusals that RabbitMQ answers by closing the channel).
#include "celeriac/broker/fake_broker.hpp"

#include <doctest/doctest.h>

#include <fmt/format.h>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/delay_routing.hpp"
#include "conformance.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;
using test::conformance::job;
using test::conformance::seq_of;

namespace {

const Timestamp kStart = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1} + 9h;

// Moves the fake clock 10 ms at a time, so a delay's arrival is seen within 10 ms.
class FakeHarness final : public test::conformance::Harness {
 public:
  JobBroker& broker() override { return fake_; }
  std::string new_queue() override {
    std::string name = fmt::format("conformance.{}", ++queues_);
    fake_.declare_queue(name);
    return name;
  }
  std::string missing_queue() override { return "conformance.missing"; }
  void declare_queue(const std::string& name) override { fake_.declare_queue(name); }
  bool pump_until(const std::function<bool()>& cond, Duration timeout) override {
    const Timestamp deadline = fake_.now() + timeout;
    fake_.run();
    while (!cond()) {
      if (fake_.now() >= deadline) return false;
      fake_.advance(10ms);
    }
    return true;
  }
  Duration elapsed() const override { return fake_.now() - kStart; }

 private:
  FakeBroker fake_{kStart};
  int queues_ = 0;
};

// Collects deliveries without acking them.
struct Holder {
  std::vector<Delivery> held;
  DeliveryHandler handler() {
    return [this](Delivery&& d) { held.push_back(std::move(d)); };
  }
  std::vector<int> seqs() const {
    std::vector<int> out;
    for (const auto& d : held)
      out.push_back(seq_of(d));
    return out;
  }
};

PublishCallback expect(PublishStatus want, int& calls) {
  return [want, &calls](const PublishResult& r) {
    CHECK(r.status == want);
    ++calls;
  };
}

} // namespace

TEST_CASE("conformance (fake): every publish completes exactly once") {
  FakeHarness h;
  test::conformance::every_publish_completes_once(h);
}

TEST_CASE("conformance (fake): prefetch 1 takes priority order, then FIFO") {
  FakeHarness h;
  test::conformance::priority_then_fifo(h);
}

TEST_CASE("conformance (fake): reject with requeue redelivers; ack removes") {
  FakeHarness h;
  test::conformance::reject_requeue_redelivers(h);
}

TEST_CASE("conformance (fake): prefetch N caps unacked deliveries") {
  FakeHarness h;
  test::conformance::prefetch_caps_unacked(h);
}

TEST_CASE("conformance (fake): a delayed job arrives no earlier than its delay") {
  FakeHarness h;
  test::conformance::delay_arrives_no_earlier(h);
}

TEST_CASE("conformance (fake): an unroutable publish completes as Returned") {
  FakeHarness h;
  test::conformance::unroutable_publish_returns(h);
}

TEST_CASE("conformance (fake): an undecodable message arrives with its error and raw body") {
  FakeHarness h;
  test::conformance::undecodable_message_delivered_raw(h);
}

TEST_CASE("conformance (fake): queues consumed by preference name queue and rank") {
  FakeHarness h;
  test::conformance::preference_order_named(h);
}

TEST_CASE("conformance (fake): an oversized body is delivered without it") {
  FakeHarness h;
  test::conformance::oversized_body_delivered_without_it(h);
}

TEST_CASE("conformance (fake): a refused subscription retries until its queue exists") {
  FakeHarness h;
  test::conformance::refused_subscription_retries(h);
}

TEST_CASE("delays of 300 s and 8 years wait exactly their whole seconds on the fake clock") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  std::vector<std::pair<int, Timestamp>> arrived;
  f.consume({"q"}, 10, [&](Delivery&& d) {
    arrived.emplace_back(seq_of(d), f.now());
    CHECK(f.ack(d));
  });
  int confirmed = 0;
  const Duration eight_years = std::chrono::years(8);
  f.publish_delayed(job("q", 0, 1), 300s, expect(PublishStatus::Confirmed, confirmed));
  f.publish_delayed(job("q", 0, 2), eight_years, expect(PublishStatus::Confirmed, confirmed));
  f.publish_delayed(job("q", 0, 3), 1500ms, expect(PublishStatus::Confirmed, confirmed));
  CHECK(f.run() == 3);
  CHECK(confirmed == 3);
  CHECK(f.delayed() == 3);
  CHECK(f.depth("q") == 0);
  f.advance(299s);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0] == std::pair{3, kStart + 1s}); // the eta holds the sub-second rest
  f.advance(1s);
  REQUIRE(arrived.size() == 2);
  CHECK(arrived[1] == std::pair{1, kStart + 300s});
  f.advance(eight_years - 301s);
  CHECK(arrived.size() == 2);
  f.advance(1s);
  REQUIRE(arrived.size() == 3);
  CHECK(arrived[2] == std::pair{2, kStart + eight_years});
  CHECK(f.delayed() == 0);
}

TEST_CASE("a delay beyond the levels' reach is clamped, as the delay routing key clamps it") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  int confirmed = 0;
  f.publish_delayed(job("q", 0, 1), std::chrono::years(20),
                    expect(PublishStatus::Confirmed, confirmed));
  f.advance(std::chrono::seconds(kMaxDelaySeconds) - 1s);
  CHECK(f.depth("q") == 0);
  f.advance(1s);
  CHECK(f.depth("q") == 1);
}

TEST_CASE("prefetch is per consumer and per queue; depth and unacked account for it") {
  FakeBroker f(kStart);
  f.declare_queue("a");
  f.declare_queue("b");
  for (int i = 0; i < 5; ++i) {
    f.publish(job("a", 0, i), nullptr);
    f.publish(job("b", 0, 10 + i), nullptr);
  }
  Holder both;
  Holder only_a;
  f.consume({"a", "b"}, 2, both.handler());
  f.consume({"a"}, 1, only_a.handler());
  CHECK(f.run() == 5);
  CHECK(f.unacked("a") == 3);
  CHECK(f.unacked("b") == 2);
  CHECK(f.depth("a") == 2);
  CHECK(f.depth("b") == 3);
  CHECK(both.seqs() == std::vector<int>{0, 10, 2, 11});
  CHECK(only_a.seqs() == std::vector<int>{1});

  CHECK(f.ack(both.held[3], /*multiple=*/true)); // all four of that channel
  CHECK(f.unacked("a") == 1);
  CHECK(f.unacked("b") == 0);
  CHECK(f.run() == 4);
  CHECK(f.unacked("a") == 3);
  CHECK(f.unacked("b") == 2);
  CHECK(f.depth("a") == 0);
  CHECK(f.depth("b") == 1);
}

TEST_CASE("ack or reject of a delivery the channel does not hold returns false") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  for (int i = 0; i < 3; ++i)
    f.publish(job("q", 0, i), nullptr);
  Holder h;
  f.consume({"q"}, 3, h.handler());
  f.run();
  REQUIRE(h.held.size() == 3);
  CHECK(f.ack(h.held[0]));
  CHECK_FALSE(f.ack(h.held[0]));
  CHECK_FALSE(f.reject(h.held[0], true));

  Delivery unknown = h.held[2];
  unknown.tag = 99;
  CHECK_FALSE(f.ack(unknown, /*multiple=*/true)); // nothing acked, as RabbitMQ refuses it
  CHECK(f.unacked("q") == 2);
  Delivery other_channel = h.held[1];
  other_channel.generation = 42;
  CHECK_FALSE(f.ack(other_channel));
  CHECK(f.reject(h.held[1], false));
  CHECK(f.ack(h.held[2]));
  CHECK(f.unacked("q") == 0);
  CHECK(f.depth("q") == 0);
}

TEST_CASE("callbacks wait for run(): none runs inside publish, consume, ack or reject") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  int confirmed = 0;
  f.publish(job("q", 0, 1), expect(PublishStatus::Confirmed, confirmed));
  f.publish(job("q", 0, 2), expect(PublishStatus::Confirmed, confirmed));
  CHECK(confirmed == 0);
  CHECK(f.depth("q") == 2); // routed at once, confirmed later
  Holder h;
  f.consume({"q"}, 1, h.handler());
  CHECK(h.held.empty());
  CHECK(f.run() == 3); // two confirms, one delivery
  CHECK(confirmed == 2);
  CHECK(f.ack(h.held[0]));
  CHECK(h.held.size() == 1);
  CHECK(f.run() == 1);
  CHECK(f.reject(h.held[1], true));
  CHECK(h.held.size() == 2);
  CHECK(f.run() == 1);
  CHECK(h.held[2].redelivered);
  CHECK(f.run() == 0);
}

TEST_CASE("reject with requeue puts each job back at its place among its priority") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  f.publish(job("q", 1, 0), nullptr);
  for (int i = 1; i <= 3; ++i)
    f.publish(job("q", 5, i), nullptr);
  Holder h;
  f.consume({"q"}, 2, h.handler());
  f.run();
  REQUIRE(h.seqs() == std::vector<int>{1, 2});
  CHECK(f.reject(h.held[1], true)); // the later one first: order comes from the position
  CHECK(f.reject(h.held[0], true));
  f.run();
  REQUIRE(h.seqs() == std::vector<int>{1, 2, 1, 2});
  CHECK(f.ack(h.held[3], true));
  f.run();
  CHECK(h.seqs() == std::vector<int>{1, 2, 1, 2, 3, 0});
  CHECK(h.held[2].redelivered);
  CHECK_FALSE(h.held[4].redelivered);
}

TEST_CASE("a priority above the queue's maximum counts as the maximum") {
  FakeBroker f(kStart);
  f.declare_queue("q", 3);
  f.publish(job("q", 2, 0), nullptr);
  f.publish(job("q", 9, 1), nullptr);
  f.publish(job("q", 3, 2), nullptr);
  Holder h;
  f.consume({"q"}, 3, h.handler());
  f.run();
  CHECK(h.seqs() == std::vector<int>{1, 2, 0});
}

TEST_CASE("an expiring job leaves its queue once the clock passes its expiry") {
  FakeBroker f(kStart);
  f.declare_queue("q");
  Job expiring = job("q", 0, 1);
  expiring.expires = kStart + 10s;
  f.publish(expiring, nullptr, f.now());
  f.publish(job("q", 0, 2), nullptr);
  f.advance(9s);
  CHECK(f.depth("q") == 2);
  f.advance(1s);
  CHECK(f.depth("q") == 1);
  Holder h;
  f.consume({"q"}, 5, h.handler());
  f.run();
  CHECK(h.seqs() == std::vector<int>{2});
}

TEST_CASE("missing queues and exchanges fail as RabbitMQ fails them") {
  FakeBroker f(kStart);
  f.consume({"nowhere"}, 1, [](Delivery&&) {});
  f.run();
  REQUIRE(f.subscriptions().size() == 1);
  CHECK(f.subscriptions()[0].status == SubscriptionStatus::Retrying);
  int returned = 0;
  int failed = 0;
  int confirmed = 0;
  f.publish_delayed(job("nowhere", 0, 1), 0s, expect(PublishStatus::Returned, returned));
  f.publish(Outgoing{"no.such.exchange", "q", encode_job(job("q", 0, 2)),
                     expect(PublishStatus::Failed, failed)});
  f.publish(Outgoing{"", "nowhere", encode_job(job("q", 0, 3)),
                     expect(PublishStatus::Confirmed, confirmed), /*mandatory=*/false});
  // Accepted by the delay levels, then dropped where the queue should be.
  f.publish_delayed(job("nowhere", 0, 4), 5s, expect(PublishStatus::Confirmed, confirmed));
  f.advance(5s);
  CHECK(returned == 1);
  CHECK(failed == 1);
  CHECK(confirmed == 2);
  CHECK(f.delayed() == 0);
}
