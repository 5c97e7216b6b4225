// Subscriptions fail one queue at a time: a queue the broker refuses (404
// missing, 405 in exclusive use) is Retrying with the broker's reason, on its
// own backoff, while the other queues deliver, their unacked deliveries stay
// ackable, and the connection publishes on; once the queue is there it
// subscribes by itself.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <atomic>
#include <thread>

#include "broker_fixture.hpp"
#include "broker_process.hpp"
#include "celeriac/broker/amqp_message.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

namespace {

void fast_retries(BrokerOptions& options) {
  options.subscribe_retry_min = 100ms;
  options.subscribe_retry_max = 400ms;
}

Subscription state_of(const JobBroker& broker, const std::string& queue) {
  for (const auto& s : broker.subscriptions()) {
    if (s.queue == queue) return s;
  }
  FAIL("no subscription for ", queue);
  return {};
}

} // namespace

TEST_CASE("a missing queue retries on its own; the other queue, its acks and publishing go on") {
  const std::string good = test::unique_name("celeriac.test.sub.good.");
  const std::string missing = test::unique_name("celeriac.test.sub.missing.");
  test::BrokerFixture f({QueueSpec{good, false, 9}}, false, fast_retries);
  f.publish_all({test::test_job(good, 0, 1), test::test_job(good, 0, 2)});
  std::vector<Delivery> held;
  f.broker->consume({good, missing}, 5, [&](Delivery&& d) { held.push_back(std::move(d)); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return held.size() == 2; }, 30s));
  CHECK(state_of(*f.broker, good).status == SubscriptionStatus::Subscribed);

  // Several retries pass; the state is the same and names the queue and the reason.
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, missing).failures >= 3; }, 30s));
  const Subscription refused = state_of(*f.broker, missing);
  INFO(refused.error);
  CHECK(refused.status == SubscriptionStatus::Retrying);
  CHECK(refused.error.find("cannot consume from queue '" + missing + "'") != std::string::npos);
  CHECK(refused.error.find("404 NOT_FOUND - no queue '" + missing + "'") != std::string::npos);
  f.publish_all({test::test_job(good, 0, 3)}); // publishing is untouched

  f.queues.push_back(missing); // deleted with the fixture
  declare_job_queue(f.broker->connection(), Broker::kAdminChannel, QueueSpec{missing, false, 9});
  REQUIRE(test::run_until(
      &f.loop,
      [&] { return state_of(*f.broker, missing).status == SubscriptionStatus::Subscribed; }, 30s));
  f.publish_all({test::test_job(missing, 0, 4)});
  REQUIRE(test::run_until(
      &f.loop, [&] { return held.size() == 4; }, 30s));
  CHECK(held[3].queue == missing);
  CHECK(held[3].preference == 1);
  // The retries never closed the consumer channel: the first deliveries still ack.
  for (const auto& d : held)
    CHECK(f.broker->ack(d));
  CHECK(f.broker->connected());
  CHECK(f.broker->reconnects() == 0);
}

TEST_CASE("a queue deleted under its consumer is retrying, and comes back when it does") {
  const std::string name = test::unique_name("celeriac.test.sub.deleted.");
  test::BrokerFixture f({QueueSpec{name, false, 9}}, false, fast_retries);
  std::vector<std::string> cancelled;
  f.broker->consumer().on_cancelled = [&](const std::string& q) { cancelled.push_back(q); };
  std::vector<int> seen;
  f.broker->consume({name}, 5, [&](Delivery&& d) {
    seen.push_back(d.job ? d.job->args[0].get<int>() : -1);
    f.broker->ack(d);
  });
  REQUIRE(state_of(*f.broker, name).status == SubscriptionStatus::Subscribed);
  test::delete_job_queue(*f.broker, name);
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, name).failures >= 2; }, 30s));
  CHECK(cancelled == std::vector<std::string>{name});
  INFO(state_of(*f.broker, name).error);
  CHECK(state_of(*f.broker, name).status == SubscriptionStatus::Retrying);

  declare_job_queue(f.broker->connection(), Broker::kAdminChannel, QueueSpec{name, false, 9});
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, name).status == SubscriptionStatus::Subscribed; },
      30s));
  f.publish_all({test::test_job(name, 0, 7)});
  REQUIRE(test::run_until(
      &f.loop, [&] { return !seen.empty(); }, 30s));
  CHECK(seen == std::vector<int>{7});
}

TEST_CASE("a queue another connection holds exclusively is retrying with 405") {
  const std::string queue = test::unique_name("celeriac.test.sub.exclusive.");
  test::BrokerFixture f({}, false, fast_retries);
  ConnectionOptions options;
  options.url = test::required_env("CELERIAC_BROKER_URL");
  Connection owner(&f.loop, options, {});
  owner.open();
  owner.open_channel(1);
  amqp_queue_declare(owner.native(), 1, bytes_view(queue), 0, 0, /*exclusive=*/1, 1,
                     amqp_empty_table);
  owner.check_reply(1, "queue.declare");

  f.broker->consume({queue}, 1, [](Delivery&&) {});
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, queue).failures >= 1; }, 30s));
  const Subscription s = state_of(*f.broker, queue);
  INFO(s.error);
  CHECK(s.status == SubscriptionStatus::Retrying);
  CHECK(s.error.find("405 RESOURCE_LOCKED") != std::string::npos);
  CHECK(f.broker->connected());
  owner.close();
}

// Without a probe channel, the refusal comes from basic.consume and closes the
// consumer channel: the other queues are subscribed again on a fresh one.
TEST_CASE("without a probe, a refused basic.consume costs the channel, not the other queues") {
  const std::string good = test::unique_name("celeriac.test.sub.good.");
  const std::string missing = test::unique_name("celeriac.test.sub.missing.");
  test::BrokerFixture f({QueueSpec{good, false, 9}});
  ConnectionOptions options;
  options.url = test::required_env("CELERIAC_BROKER_URL");
  std::unique_ptr<Consumer> consumer;
  Connection connection(
      &f.loop, options,
      Connection::Handlers{
          .on_method = [&](amqp_channel_t, const amqp_method_t& m) { consumer->on_method(m); },
          .on_message = [&](amqp_channel_t,
                            InboundMessage&& m) { consumer->on_message(std::move(m)); },
          .on_lost = {}});
  connection.open();
  consumer = std::make_unique<Consumer>(connection, 1);
  std::vector<Delivery> got;
  consumer->start({missing, good}, 5, [&](Delivery&& d) { got.push_back(std::move(d)); });
  const auto subs = consumer->subscriptions();
  REQUIRE(subs.size() == 2);
  CHECK(subs[0].status == SubscriptionStatus::Retrying);
  CHECK(subs[0].error.find("basic.consume: 404") != std::string::npos);
  CHECK(subs[1].status == SubscriptionStatus::Subscribed);
  f.publish_all({test::test_job(good, 0, 1)});
  REQUIRE(test::run_until(
      &f.loop, [&] { return got.size() == 1; }, 30s));
  CHECK(got[0].preference == 1);
  CHECK(consumer->ack(got[0]));
  consumer->stop_retrying();
  connection.close();
  consumer.reset();
}

// 403 shows only at basic.consume. The first refusal costs the consumer
// channel once; the retries then try basic.consume on the probe channel, so
// the other queue's unacked deliveries stay ackable however often they run.
TEST_CASE("a queue we may not read (403) is retried on the probe channel, not ours") {
  const std::string good = test::unique_name("celeriac.test.sub.good.");
  const std::string denied = test::unique_name("celeriac.test.sub.denied.");
  const std::string user = test::unique_name("celeriac_test_noread_");
  REQUIRE(test::services("rabbitmqctl add_user " + user + " secret") == 0);
  struct RemoveUser {
    std::string user;
    ~RemoveUser() { test::services("rabbitmqctl delete_user " + user); }
  } remove_user{user};
  // Read anything but the denied queue (PCRE lookahead).
  REQUIRE(test::services("rabbitmqctl set_permissions -p / " + user +
                         " '.*' '.*' '^(?!celeriac\\.test\\.sub\\.denied\\.).*'") == 0);
  const BrokerUrl url = BrokerUrl::parse(test::required_env("CELERIAC_BROKER_URL"));
  const std::string as_user = fmt::format("amqp://{}:secret@{}:{}/%2f", user, url.host, url.port);
  test::BrokerFixture f({QueueSpec{good, false, 9}, QueueSpec{denied, false, 9}}, false,
                        [&](BrokerOptions& options) {
                          fast_retries(options);
                          options.connection.url = as_user;
                        });
  f.publish_all(
      {test::test_job(good, 0, 1), test::test_job(good, 0, 2), test::test_job(denied, 0, 3)});
  std::vector<Delivery> held;
  f.broker->consume({good, denied}, 5, [&](Delivery&& d) { held.push_back(std::move(d)); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return held.size() == 2; }, 30s));
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, denied).failures >= 4; }, 30s));
  const Subscription refused = state_of(*f.broker, denied);
  INFO(refused.error);
  CHECK(refused.status == SubscriptionStatus::Retrying);
  CHECK(refused.error.find("403 ACCESS_REFUSED") != std::string::npos);
  CHECK(state_of(*f.broker, good).status == SubscriptionStatus::Subscribed);
  CHECK(f.broker->ack(held[0])); // the consumer channel outlived every retry

  // rabbitmqctl can take seconds: the loop keeps running (heartbeats) meanwhile.
  std::atomic<int> granted{-1};
  std::thread grant([&] {
    granted = test::services("rabbitmqctl set_permissions -p / " + user + " '.*' '.*' '.*'");
  });
  const bool ran = test::run_until(
      &f.loop, [&] { return granted >= 0; }, 120s);
  grant.join();
  REQUIRE(ran);
  REQUIRE(granted == 0);
  REQUIRE(test::run_until(
      &f.loop, [&] { return state_of(*f.broker, denied).status == SubscriptionStatus::Subscribed; },
      30s));
  REQUIRE(test::run_until(
      &f.loop, [&] { return held.size() == 3; }, 30s));
  CHECK(held[2].queue == denied);
  CHECK(f.broker->ack(held[1]));
  CHECK(f.broker->ack(held[2]));
  CHECK(f.broker->reconnects() == 0);
}
