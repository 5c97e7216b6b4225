// The JobBroker conformance suite (conformance.hpp) on the RabbitMQ Broker and
// the private broker of scripts/services: the same behaviours the FakeBroker
// passes, on real time. Each test declares its own uniquely named queues
// (bound to the delay levels), which the fixture deletes afterwards.
#include <doctest/doctest.h>

#include <amqp.h>

#include "broker_fixture.hpp"
#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/delay_routing.hpp"
#include "conformance.hpp"

using namespace celeriac;
using namespace celeriac::broker;

namespace {

using Clock = std::chrono::steady_clock;

class RabbitHarness final : public test::conformance::Harness {
 public:
  JobBroker& broker() override { return *fixture_.broker; }

  std::string new_queue() override {
    std::string name = test::unique_name("celeriac.test.conformance.");
    Connection& connection = fixture_.broker->connection();
    fixture_.queues.push_back(name); // deleted with the fixture, even if binding fails
    declare_job_queue(connection, Broker::kAdminChannel, QueueSpec{name, false, 9});
    const std::string exchange = delay_delivery_exchange();
    const std::string binding = delay_delivery_binding(name);
    amqp_queue_bind(connection.native(), Broker::kAdminChannel, bytes_view(name),
                    bytes_view(exchange), bytes_view(binding), amqp_empty_table);
    connection.check_reply(Broker::kAdminChannel, "queue.bind");
    return name;
  }

  std::string missing_queue() override { return test::unique_name("celeriac.test.missing."); }

  void declare_queue(const std::string& name) override {
    fixture_.queues.push_back(name);
    declare_job_queue(fixture_.broker->connection(), Broker::kAdminChannel,
                      QueueSpec{name, false, 9});
  }

  bool pump_until(const std::function<bool()>& cond, Duration timeout) override {
    return test::run_until(&fixture_.loop, cond,
                           std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  }

  Duration elapsed() const override {
    return std::chrono::duration_cast<Duration>(Clock::now() - start_);
  }

 private:
  test::BrokerFixture fixture_{{}, /*delays=*/true};
  Clock::time_point start_ = Clock::now();
};

} // namespace

TEST_CASE("conformance (rabbitmq): every publish completes exactly once") {
  RabbitHarness h;
  test::conformance::every_publish_completes_once(h);
}

TEST_CASE("conformance (rabbitmq): prefetch 1 takes priority order, then FIFO") {
  RabbitHarness h;
  test::conformance::priority_then_fifo(h);
}

TEST_CASE("conformance (rabbitmq): reject with requeue redelivers; ack removes") {
  RabbitHarness h;
  test::conformance::reject_requeue_redelivers(h);
}

TEST_CASE("conformance (rabbitmq): prefetch N caps unacked deliveries") {
  RabbitHarness h;
  test::conformance::prefetch_caps_unacked(h);
}

TEST_CASE("conformance (rabbitmq): a delayed job arrives no earlier than its delay") {
  RabbitHarness h;
  test::conformance::delay_arrives_no_earlier(h);
}

TEST_CASE("conformance (rabbitmq): an unroutable publish completes as Returned") {
  RabbitHarness h;
  test::conformance::unroutable_publish_returns(h);
}

TEST_CASE("conformance (rabbitmq): an undecodable message arrives with its error and raw body") {
  RabbitHarness h;
  test::conformance::undecodable_message_delivered_raw(h);
}

TEST_CASE("conformance (rabbitmq): queues consumed by preference name queue and rank") {
  RabbitHarness h;
  test::conformance::preference_order_named(h);
}

TEST_CASE("conformance (rabbitmq): an oversized body is delivered without it") {
  RabbitHarness h;
  test::conformance::oversized_body_delivered_without_it(h);
}

TEST_CASE("conformance (rabbitmq): a refused subscription retries until its queue exists") {
  RabbitHarness h;
  test::conformance::refused_subscription_retries(h);
}
