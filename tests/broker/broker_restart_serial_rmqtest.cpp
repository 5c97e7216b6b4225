// The broker restarted, frozen or out of memory under load: nothing is lost,
// the consumer resumes by itself, a frozen broker is noticed by missed
// heartbeats, and publishers wait while the broker blocks them. Stops, freezes
// and alarms the shared private RabbitMQ, so it runs alone (RUN_SERIAL).
#include <doctest/doctest.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <set>
#include <thread>

#include "broker_fixture.hpp"
#include "broker_process.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

using test::broker_pid;
using test::services;

TEST_CASE("a broker restart in the middle of a stream of publishes loses nothing") {
  const std::string name = test::unique_name("celeriac.test.restart.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  constexpr int kOutstanding = 1000;
  int published = 0;
  bool publishing = true;
  std::size_t confirmed = 0;
  std::size_t failed = 0;
  std::set<int> consumed;
  std::size_t deliveries = 0;
  f.broker->consume({name}, 200, [&](Delivery&& d) {
    if (d.job) consumed.insert(d.job->args[0].get<int>());
    ++deliveries;
    f.broker->ack(d);
  });
  // Publishes go on, 1,000 outstanding, until the broker is back: so the
  // restart always falls in the middle of the stream, however fast it is.
  struct TopUp {
    uv_timer_t timer{};
    std::function<void()> fn;
    ~TopUp() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
  } top_up;
  top_up.fn = [&] {
    while (publishing && static_cast<std::size_t>(published) - confirmed - failed < kOutstanding) {
      f.broker->publish(test::test_job(name, published % 10, published),
                        [&](const PublishResult& r) {
                          (r.status == PublishStatus::Confirmed ? confirmed : failed)++;
                        });
      ++published;
    }
  };
  uv_timer_init(&f.loop, &top_up.timer);
  top_up.timer.data = &top_up;
  uv_timer_start(
      &top_up.timer, [](uv_timer_t* t) { static_cast<TopUp*>(t->data)->fn(); }, 0, 10);
  REQUIRE(test::run_until(
      &f.loop, [&] { return confirmed >= 2000; }, 60s));
  // Restart the broker on another thread while this one keeps the loop running.
  std::atomic<bool> restarted{false};
  std::thread restart([&] {
    CHECK(services("down rabbitmq") == 0);
    CHECK(services("up rabbitmq") == 0);
    restarted = true;
  });
  const bool back = test::run_until(
      &f.loop, [&] { return restarted && f.broker->reconnects() >= 1; }, 240s);
  restart.join();
  publishing = false;
  const bool all = test::run_until(
      &f.loop,
      [&] {
        return confirmed + failed == static_cast<std::size_t>(published) &&
               consumed.size() == static_cast<std::size_t>(published);
      },
      240s);
  CHECK(back);
  CHECK(all);
  CHECK(failed == 0);
  CHECK(consumed.size() == static_cast<std::size_t>(published));
  MESSAGE(published, " published; duplicates delivered: ", deliveries - consumed.size(),
          ", republished: ", f.broker->publisher().republished(),
          ", reconnects: ", f.broker->reconnects());
}

TEST_CASE("a frozen broker (SIGSTOP) is noticed within two heartbeat intervals") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::optional<std::chrono::steady_clock::time_point> lost_at;
  {
    ConnectionOptions options;
    options.url = test::required_env("CELERIAC_BROKER_URL");
    options.heartbeat = 2s;
    Connection connection(
        &loop, options,
        Connection::Handlers{.on_method = {}, .on_message = {}, .on_lost = [&](const std::string&) {
                               lost_at = std::chrono::steady_clock::now();
                             }});
    connection.open();
    test::run_until(
        &loop, [] { return false; }, 3s); // heartbeats flowing both ways
    const pid_t pid = broker_pid();
    REQUIRE(pid > 0);
    const auto frozen_at = std::chrono::steady_clock::now();
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    const bool noticed = test::run_until(
        &loop, [&] { return lost_at.has_value(); }, 10s);
    ::kill(pid, SIGCONT);
    REQUIRE(noticed);
    const double seconds = std::chrono::duration<double>(*lost_at - frozen_at).count();
    MESSAGE("frozen broker noticed after ", seconds, " s (heartbeat 2 s)");
    CHECK(seconds <= 4.0);
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("while a memory alarm blocks the connection, publishes wait; they confirm after") {
  const std::string name = test::unique_name("celeriac.test.blocked.");
  test::BrokerFixture f({QueueSpec{name, false, 9}});
  REQUIRE(services("rabbitmqctl set_vm_memory_high_watermark 0.000001") == 0);
  std::size_t confirmed = 0;
  bool saw_blocked = false;
  auto publish_one = [&](int i) {
    f.broker->publish(test::test_job(name, 0, i), [&](const PublishResult& r) {
      CHECK(r.status == PublishStatus::Confirmed);
      ++confirmed;
    });
  };
  // The broker blocks a connection when it next publishes under an alarm.
  publish_one(0);
  const bool blocked = test::run_until(
      &f.loop, [&] { return saw_blocked = f.broker->connection().blocked(); }, 30s);
  for (int i = 1; i < 10; ++i)
    publish_one(i);
  test::run_until(
      &f.loop, [] { return false; }, 1s);
  const std::size_t waiting = f.broker->publisher().waiting();
  const std::size_t confirmed_while_blocked = confirmed;
  REQUIRE(services("rabbitmqctl set_vm_memory_high_watermark 0.4") == 0);
  CHECK(blocked);
  CHECK(saw_blocked);
  CHECK(confirmed_while_blocked == 0);
  CHECK(waiting == 9); // held by the publisher, not written into a blocked socket
  CHECK(test::run_until(
      &f.loop, [&] { return confirmed == 10; }, 60s));
  CHECK_FALSE(f.broker->connection().blocked());
}
