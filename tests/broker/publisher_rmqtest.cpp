// Publisher against the private RabbitMQ: pipelined confirms, returns of
// unroutable messages, and refusals by the broker.
#include <doctest/doctest.h>

#include <memory>

#include <fmt/format.h>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/publisher.hpp"
#include "loop_runner.hpp"
#include "test_env.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

namespace {

constexpr amqp_channel_t kPublish = 1;
constexpr amqp_channel_t kAdmin = 3;

// A connection with a publisher on channel 1 and channel 3 for declarations.
struct Fixture {
  uv_loop_t loop{};
  std::unique_ptr<Connection> connection;
  std::unique_ptr<Publisher> publisher;
  std::string queue = test::unique_name("celeriac.test.publish.");

  explicit Fixture(std::size_t window) {
    uv_loop_init(&loop);
    ConnectionOptions options;
    options.url = test::required_env("CELERIAC_BROKER_URL");
    connection = std::make_unique<Connection>(
        &loop, options,
        Connection::Handlers{
            .on_method =
                [this](amqp_channel_t ch, const amqp_method_t& m) {
                  if (ch == kPublish) publisher->on_method(m);
                },
            .on_message = [this](amqp_channel_t,
                                 InboundMessage&& m) { publisher->on_return(std::move(m)); },
            .on_lost = [this](const std::string&) { publisher->on_connection_lost(); },
        });
    publisher = std::make_unique<Publisher>(*connection, kPublish, window);
    connection->open();
    publisher->start();
    connection->open_channel(kAdmin);
    declare(queue);
  }

  ~Fixture() {
    if (connection->is_open()) {
      amqp_queue_delete(connection->native(), kAdmin, amqp_cstring_bytes(queue.c_str()), 0, 0);
    }
    publisher->stop("test over");
    connection->close();
    publisher.reset();
    connection.reset();
    CHECK(test::close_loop(&loop) == 0);
  }

  void declare(const std::string& name) {
    amqp_table_entry_t arg{amqp_cstring_bytes("x-max-priority"), {}};
    arg.value.kind = AMQP_FIELD_KIND_I32;
    arg.value.value.i32 = 9;
    amqp_queue_declare(connection->native(), kAdmin, amqp_cstring_bytes(name.c_str()), 0, 1, 0, 0,
                       amqp_table_t{1, &arg});
    connection->check_reply(kAdmin, "queue.declare");
  }

  std::uint32_t depth() {
    auto* ok = amqp_queue_declare(connection->native(), kAdmin, amqp_cstring_bytes(queue.c_str()),
                                  1, 0, 0, 0, amqp_empty_table);
    connection->check_reply(kAdmin, "queue.declare passive");
    return ok->message_count;
  }
};

Message message_of(std::size_t bytes, int priority) {
  Message m;
  m.properties.priority = priority;
  m.properties.correlation_id = "c";
  m.body = std::string(bytes, 'x');
  return m;
}

} // namespace

TEST_CASE("100,000 publishes through a window of 1,000 all confirm") {
  Fixture f(1000);
  std::size_t confirmed = 0;
  std::size_t other = 0;
  std::size_t max_unconfirmed = 0;
  constexpr std::size_t kCount = 100'000;
  for (std::size_t i = 0; i < kCount; ++i) {
    f.publisher->publish(Outgoing{"", f.queue, message_of(300, static_cast<int>(i % 10)),
                                  [&](const PublishResult& r) {
                                    (r.status == PublishStatus::Confirmed ? confirmed : other)++;
                                  }});
  }
  CHECK(f.publisher->waiting() == kCount - 1000); // the window holds the rest back
  const bool done = test::run_until(
      &f.loop,
      [&] {
        max_unconfirmed = std::max(max_unconfirmed, f.publisher->unconfirmed());
        return confirmed + other == kCount;
      },
      180s);
  CHECK(done);
  CHECK(confirmed == kCount);
  CHECK(other == 0);
  CHECK(max_unconfirmed <= 1000);
  CHECK(f.depth() == kCount);
}

TEST_CASE("an unroutable mandatory publish completes as Returned, not silence") {
  Fixture f(10);
  std::optional<PublishResult> result;
  f.publisher->publish(Outgoing{"", test::unique_name("celeriac.test.nowhere."), message_of(10, 0),
                                [&](const PublishResult& r) { result = r; }});
  REQUIRE(test::run_until(
      &f.loop, [&] { return result.has_value(); }, 10s));
  CHECK(result->status == PublishStatus::Returned);
  CHECK(result->detail.find("312 NO_ROUTE") != std::string::npos);
}

TEST_CASE("a publish to a missing exchange fails with the broker's reason; the channel recovers") {
  Fixture f(10);
  std::optional<PublishResult> bad;
  std::optional<PublishResult> good;
  f.publisher->publish(Outgoing{"celeriac.test.no-such-exchange", "x", message_of(10, 0),
                                [&](const PublishResult& r) { bad = r; }});
  REQUIRE(test::run_until(
      &f.loop, [&] { return bad.has_value(); }, 10s));
  CHECK(bad->status == PublishStatus::Failed);
  CHECK(bad->detail.find("404 NOT_FOUND") != std::string::npos);
  f.publisher->publish(
      Outgoing{"", f.queue, message_of(10, 0), [&](const PublishResult& r) { good = r; }});
  REQUIRE(test::run_until(
      &f.loop, [&] { return good.has_value(); }, 10s));
  CHECK(good->status == PublishStatus::Confirmed);
}

TEST_CASE("a wrong password is an error that does not show the password") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  BrokerUrl url = BrokerUrl::parse(test::required_env("CELERIAC_BROKER_URL"));
  const std::string bad = fmt::format("amqp://guest:s3cret-wrong@{}:{}/%2f", url.host, url.port);
  {
    ConnectionOptions options;
    options.url = bad;
    options.timeout = 3s;
    Connection connection(&loop, options, {});
    try {
      connection.open();
      FAIL("login should have been refused");
    } catch (const InfrastructureError& e) {
      const std::string what = e.what();
      CHECK(what.find("login to amqp://guest:****@") != std::string::npos);
      CHECK(what.find("s3cret") == std::string::npos);
    }
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("a message AMQP cannot carry fails alone, after the call; the connection stays") {
  Fixture f(10);
  std::vector<PublishResult> results;
  Message too_big = message_of(10, 0);
  too_big.headers.set("x-huge", std::string(200 * 1024, 'h'));
  bool returned_from_call = false;
  f.publisher->publish(
      Outgoing{"", std::string(300, 'q'), message_of(10, 0), [&](const PublishResult& r) {
                 CHECK(returned_from_call);
                 results.push_back(r);
               }});
  f.publisher->publish(
      Outgoing{"", f.queue, too_big, [&](const PublishResult& r) { results.push_back(r); }});
  f.publisher->publish(Outgoing{"", f.queue, message_of(10, 0),
                                [&](const PublishResult& r) { results.push_back(r); }});
  returned_from_call = true;
  REQUIRE(test::run_until(
      &f.loop, [&] { return results.size() == 3; }, 10s));
  CHECK(results[0].status == PublishStatus::Failed);
  CHECK(results[0].detail.find("over 255 bytes") != std::string::npos);
  CHECK(results[1].status == PublishStatus::Failed);
  CHECK(results[1].detail.find("larger than one AMQP frame") != std::string::npos);
  CHECK(results[2].status == PublishStatus::Confirmed);
  CHECK(f.connection->is_open());
}

TEST_CASE("after stop(), a publish fails instead of waiting forever") {
  Fixture f(10);
  f.publisher->stop("stopped by the test");
  std::optional<PublishResult> result;
  f.publisher->publish(
      Outgoing{"", f.queue, message_of(10, 0), [&](const PublishResult& r) { result = r; }});
  CHECK_FALSE(result.has_value()); // never inside the call
  REQUIRE(test::run_until(
      &f.loop, [&] { return result.has_value(); }, 5s));
  CHECK(result->status == PublishStatus::Failed);
}
