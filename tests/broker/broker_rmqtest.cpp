// The Broker against the private RabbitMQ: topology, priorities, bad messages.
#include <doctest/doctest.h>

#include <random>

#include "broker_fixture.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/broker/management_api.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

TEST_CASE("topology is idempotent; a conflicting declaration names the queue and both values") {
  const std::string name = test::unique_name("celeriac.test.topology.");
  {
    test::BrokerFixture f({QueueSpec{name, false, 9}});
    declare_job_queue(f.broker->connection(), Broker::kAdminChannel, QueueSpec{name, false, 9});
    try {
      declare_job_queue(f.broker->connection(), Broker::kAdminChannel, QueueSpec{name, false, 5});
      FAIL("redeclaring with x-max-priority 5 should fail");
    } catch (const ChannelError& e) {
      const std::string what = e.what();
      INFO(what);
      CHECK(e.code() == 406);
      CHECK(what.find("queue '" + name + "' already exists with other arguments") !=
            std::string::npos);
      CHECK(what.find("x-max-priority") != std::string::npos);
      CHECK(what.find("received '5' but current is '9'") != std::string::npos);
    }
    // The admin channel was reopened: the connection still works.
    f.publish_all({test::test_job(name, 1, 1)});
  }
}

TEST_CASE("quorum job queues declare without priorities") {
  const std::string name = test::unique_name("celeriac.test.quorum.");
  test::BrokerFixture f({QueueSpec{name, true, 9}});
  f.publish_all({test::test_job(name, 5, 1)});
}

TEST_CASE("prefetch 1: 1,000 mixed-priority jobs are consumed by priority, then FIFO") {
  const std::string name = test::unique_name("celeriac.test.priority.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  std::vector<Job> jobs;
  std::mt19937 rng(42);
  for (int i = 0; i < 1000; ++i)
    jobs.push_back(test::test_job(name, static_cast<int>(rng() % 10), i));
  f.publish_all(jobs);

  std::vector<std::pair<int, int>> seen; // (priority, seq) in consumption order
  f.broker->consume({name}, 1, [&](Delivery&& d) {
    REQUIRE(d.job.has_value());
    seen.emplace_back(d.job->priority, d.job->args[0].get<int>());
    CHECK(f.broker->ack(d));
  });
  REQUIRE(test::run_until(
      &f.loop, [&] { return seen.size() == jobs.size(); }, 60s));
  for (std::size_t i = 1; i < seen.size(); ++i) {
    INFO("position ", i);
    const bool by_priority = seen[i - 1].first > seen[i].first;
    const bool fifo_within =
        seen[i - 1].first == seen[i].first && seen[i - 1].second < seen[i].second;
    CHECK((by_priority || fifo_within));
  }
}

TEST_CASE("an undecodable message is delivered with its raw bytes and the reason") {
  const std::string name = test::unique_name("celeriac.test.poison.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  Message poison;
  poison.properties.content_type = "application/json";
  poison.body = "{not json";
  bool confirmed = false;
  f.broker->publish(Outgoing{"", name, poison, [&](const PublishResult& r) {
                               confirmed = r.status == PublishStatus::Confirmed;
                             }});
  REQUIRE(test::run_until(
      &f.loop, [&] { return confirmed; }, 10s));
  std::optional<Delivery> got;
  f.broker->consume({name}, 1, [&](Delivery&& d) { got = std::move(d); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return got.has_value(); }, 10s));
  CHECK_FALSE(got->job.has_value());
  CHECK(got->error == "headers.task: missing (not a Celery protocol v2 message)");
  CHECK(got->raw.body == "{not json");
  CHECK(f.broker->reject(*got, false));
}

TEST_CASE("depth probe: ready and consumers by passive declare; a missing queue is nullopt") {
  const std::string name = test::unique_name("celeriac.test.depth.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  f.publish_all(
      {test::test_job(name, 1, 1), test::test_job(name, 2, 2), test::test_job(name, 3, 3)});
  auto depth = probe_queue(f.broker->connection(), Broker::kAdminChannel, name);
  REQUIRE(depth.has_value());
  CHECK(depth->ready == 3);
  CHECK(depth->consumers == 0);
  CHECK_FALSE(probe_queue(f.broker->connection(), Broker::kAdminChannel,
                          test::unique_name("celeriac.test.missing."))
                  .has_value());
  // The channel the 404 closed was reopened: probing still works.
  CHECK(probe_queue(f.broker->connection(), Broker::kAdminChannel, name)->ready == 3);
}

TEST_CASE("with a management URL, start() sets each job queue's dead-letter policy") {
  const std::string name = test::unique_name("celeriac.test.dlx.");
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    BrokerOptions options;
    options.connection.url = test::required_env("CELERIAC_BROKER_URL");
    options.management_url = test::required_env("CELERIAC_MANAGEMENT_URL");
    options.topology.delays = false;
    options.topology.queues = {QueueSpec{name, false, 9}};
    Broker broker(&loop, options);
    broker.start();
    ManagementApi api(*options.management_url);
    const auto policy = api.policy("/", dead_letter_policy_name(name));
    REQUIRE(policy.has_value());
    CHECK((*policy)["definition"]["dead-letter-routing-key"] == dead_letter_queue(name));
    api.delete_policy("/", dead_letter_policy_name(name));
    test::delete_job_queue(broker, name);
    broker.stop();
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("acks the broker would punish are refused, and the consumer keeps delivering") {
  const std::string name = test::unique_name("celeriac.test.ack.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  f.publish_all({test::test_job(name, 0, 1)});
  std::vector<Delivery> got;
  f.broker->consume({name}, 10, [&](Delivery&& d) { got.push_back(std::move(d)); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return got.size() == 1; }, 10s));
  CHECK(f.broker->ack(got[0]));
  CHECK_FALSE(f.broker->ack(got[0]));          // already acked
  CHECK_FALSE(f.broker->reject(got[0], true)); // and not rejectable either
  Delivery unknown = got[0];
  unknown.tag = 9999;
  CHECK_FALSE(f.broker->ack(unknown));
  f.publish_all({test::test_job(name, 0, 2)});
  REQUIRE(test::run_until(
      &f.loop, [&] { return got.size() == 2; }, 10s));
  CHECK(got[1].job->args[0] == 2);
  CHECK(f.broker->ack(got[1]));
  CHECK(f.broker->reconnects() == 0);
}

TEST_CASE("acks of one loop iteration are coalesced, and never settle a delivery still held") {
  const std::string name = test::unique_name("celeriac.test.coalesce.");
  std::vector<Job> jobs;
  for (int i = 1; i <= 10; ++i)
    jobs.push_back(test::test_job(name, 0, i));
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  f.publish_all(jobs);
  {
    std::vector<Delivery> got;
    f.broker->consume({name}, 10, [&](Delivery&& d) { got.push_back(std::move(d)); });
    REQUIRE(test::run_until(
        &f.loop, [&] { return got.size() == 10; }, 10s));
    auto& consumer = f.broker->consumer();
    // Jobs 1-4 and 6-8 finish in one iteration; job 5 (and 9, 10) still run.
    for (int i : {3, 0, 1, 2, 5, 7, 6})
      CHECK(f.broker->ack(got[static_cast<std::size_t>(i)]));
    CHECK(consumer.ack_frames() == 0); // owed until the iteration ends
    REQUIRE(test::run_until(
        &f.loop, [&] { return consumer.acked() == 7; }, 10s));
    CHECK(consumer.ack_frames() == 4);  // one multiple ack for 1-4, then 6, 7 and 8 alone
    CHECK_FALSE(f.broker->ack(got[0])); // settled already
    // Job 9 finishes; stop() sends its owed ack before closing the connection.
    CHECK(f.broker->ack(got[8]));
    f.broker->stop();
  }
  // Jobs 5 and 10 were never acked: the broker gave them back, and only them.
  // (F, disconnected, leaves the queue to AGAIN to delete.)
  test::BrokerFixture again({QueueSpec{name, false, 9}});
  const auto left = again.take_all(name);
  REQUIRE(left.size() == 2);
  CHECK(left[0].id == jobs[4].id);
  CHECK(left[1].id == jobs[9].id);
}

TEST_CASE("a second consume() replaces the first subscription on the same connection") {
  const std::string first = test::unique_name("celeriac.test.first.");
  const std::string second = test::unique_name("celeriac.test.second.");
  test::BrokerFixture f({QueueSpec{first, false, 9}, QueueSpec{second, false, 9}});
  std::vector<std::string> from;
  f.broker->consume({first}, 1, [&](Delivery&& d) { from.push_back(d.queue); });
  f.broker->consume({second}, 1, [&](Delivery&& d) {
    from.push_back(d.queue);
    CHECK(f.broker->ack(d));
  });
  f.publish_all({test::test_job(first, 0, 1), test::test_job(second, 0, 2)});
  REQUIRE(test::run_until(
      &f.loop, [&] { return !from.empty(); }, 10s));
  test::run_until(
      &f.loop, [] { return false; }, std::chrono::milliseconds(300));
  CHECK(from == std::vector<std::string>{second});
  CHECK(f.broker->connected());
  CHECK(f.broker->reconnects() == 0);
}

TEST_CASE("consume() before start() records the subscription; start() makes it") {
  const std::string name = test::unique_name("celeriac.test.early.");
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    BrokerOptions options;
    options.connection.url = test::required_env("CELERIAC_BROKER_URL");
    options.topology.delays = false;
    options.topology.queues = {QueueSpec{name, false, 9}};
    Broker broker(&loop, options);
    std::vector<int> seen;
    broker.consume({name}, 1, [&](Delivery&& d) {
      seen.push_back(d.job->args[0].get<int>());
      broker.ack(d);
    });
    broker.start();
    broker.publish(test::test_job(name, 0, 7), [](const PublishResult&) {});
    CHECK(test::run_until(
        &loop, [&] { return seen.size() == 1; }, 10s));
    test::delete_job_queue(broker, name);
    broker.stop();
  }
  CHECK(test::close_loop(&loop) == 0);
}

namespace {

// A broker where nothing listens.
BrokerOptions unreachable() {
  BrokerOptions options;
  options.connection.url = "amqp://guest:guest@127.0.0.1:1/%2f";
  options.connection.timeout = 1s;
  return options;
}

} // namespace

TEST_CASE("with retry_start, a start() that cannot connect returns, and publishes wait for it") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    BrokerOptions options = unreachable();
    options.reconnect_min = 20ms;
    options.reconnect_max = 50ms;
    options.retry_start = true;
    Broker broker(&loop, options);
    CHECK_NOTHROW(broker.start());
    CHECK_FALSE(broker.connected());
    std::optional<PublishResult> held;
    broker.publish(test::test_job("q", 0, 1), [&](const PublishResult& r) { held = r; });
    // Several reconnect attempts go by; the publish neither fails nor goes anywhere.
    test::run_until(
        &loop, [] { return false; }, 300ms);
    CHECK_FALSE(held.has_value());
    CHECK_FALSE(broker.connected());
    broker.stop();
    REQUIRE(test::run_until(
        &loop, [&] { return held.has_value(); }, 5s));
    CHECK(held->status == PublishStatus::Failed);
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("with retry_start, a topology the broker refuses still fails start()") {
  const std::string name = test::unique_name("celeriac.test.retry_start.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    BrokerOptions options;
    options.connection.url = test::required_env("CELERIAC_BROKER_URL");
    options.topology.queues = {QueueSpec{name, false, 5}}; // declared with 9 above
    options.retry_start = true;
    Broker broker(&loop, options);
    CHECK_THROWS_AS(broker.start(), ChannelError);
    CHECK_FALSE(broker.connected());
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("a failed start() leaves the broker stopped: publishes fail, none wait forever") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    Broker broker(&loop, unreachable());
    std::optional<PublishResult> queued_before;
    broker.publish(test::test_job("q", 0, 1), [&](const PublishResult& r) { queued_before = r; });
    CHECK_THROWS_AS(broker.start(), InfrastructureError);
    std::optional<PublishResult> after;
    broker.publish(test::test_job("q", 0, 2), [&](const PublishResult& r) { after = r; });
    REQUIRE(test::run_until(
        &loop, [&] { return queued_before.has_value() && after.has_value(); }, 5s));
    CHECK(queued_before->status == PublishStatus::Failed);
    CHECK(after->status == PublishStatus::Failed);
  }
  CHECK(test::close_loop(&loop) == 0);
}
