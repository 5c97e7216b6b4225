// Publishing into a broker that stops reading (SIGSTOP) must not block the
// loop: rabbitmq-c writes with an infinite timeout, so the Publisher holds
// messages back while the socket has no room. The loop keeps running (a timer
// of the test's own keeps ticking), the silence is noticed by missed
// heartbeats within two intervals, and after the broker thaws everything
// published is confirmed on the new connection. Freezes the shared private
// RabbitMQ, so it runs alone (RUN_SERIAL).
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

#include "broker_fixture.hpp"
#include "broker_process.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A timer of the test's own on the loop: the longest gap between its ticks
// says how long the loop was kept from running.
struct Ticker {
  uv_timer_t timer{};
  Clock::time_point last = Clock::now();
  Clock::duration longest_gap{};
  std::function<void()> on_tick;

  explicit Ticker(uv_loop_t* loop) {
    uv_timer_init(loop, &timer);
    timer.data = this;
    uv_timer_start(
        &timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<Ticker*>(t->data);
          const auto now = Clock::now();
          self->longest_gap = std::max(self->longest_gap, now - self->last);
          self->last = now;
          if (self->on_tick) self->on_tick();
        },
        20, 20);
  }
  void reset() {
    last = Clock::now();
    longest_gap = {};
  }
  ~Ticker() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
};

// Thaws the broker when told, or by itself after a deadline, so that a loop
// blocked inside a write (the bug this file guards against) comes back and
// the test fails instead of hanging.
class Thawer {
 public:
  Thawer(pid_t pid, std::chrono::seconds deadline)
      : thread_([this, pid, deadline] {
          std::unique_lock lock(mutex_);
          cv_.wait_for(lock, deadline, [this] { return go_; });
          ::kill(pid, SIGCONT);
        }) {}
  void thaw() {
    {
      std::lock_guard lock(mutex_);
      go_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  ~Thawer() {
    if (thread_.joinable()) thaw();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool go_ = false;
  std::thread thread_;
};

// Publishes large messages without pause, freezes the broker, and checks
// that the loop kept running, the loss was noticed in time, and everything
// published was confirmed after the thaw. TLS, if set, connects over amqps.
void publish_into_a_frozen_broker(bool tls) {
  const std::string name = test::unique_name("celeriac.test.backpressure.");
  test::BrokerFixture f({QueueSpec{name, false, 9}}, false, [tls](BrokerOptions& options) {
    options.connection.heartbeat = 2s;
    options.reconnect_max = 1s;
    if (tls) {
      options.connection.url = test::required_env("CELERIAC_BROKER_TLS_URL");
      options.connection.tls.ca_cert = test::required_env("CELERIAC_TLS_CA");
    }
  });
  constexpr std::size_t kBody = 256 * 1024;
  // 150 MiB in flight: more than the broker reads ahead and both ends' socket
  // buffers hold (tcp_rmem may reach 32 MiB)
  constexpr std::size_t kOutstanding = 600;
  std::size_t published = 0;
  std::size_t confirmed = 0;
  std::size_t failed = 0;
  bool publishing = true;
  Message message;
  message.body.assign(kBody, 'x');
  Ticker ticker(&f.loop);
  std::size_t held_back = 0; // the most publishes the Publisher held back while connected
  ticker.on_tick = [&] {
    if (f.broker->connected()) held_back = std::max(held_back, f.broker->publisher().waiting());
    while (publishing && published - confirmed - failed < kOutstanding) {
      ++published;
      f.broker->publish(Outgoing{"", name, message, [&](const PublishResult& r) {
                                   (r.status == PublishStatus::Confirmed ? confirmed : failed)++;
                                 }});
    }
  };
  REQUIRE(test::run_until(
      &f.loop, [&] { return confirmed >= 100; }, 60s));

  const pid_t pid = test::broker_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  const auto frozen_at = Clock::now();
  Thawer thawer(pid, 15s);
  ticker.reset();
  held_back = 0;
  const bool lost = test::run_until(
      &f.loop, [&] { return !f.broker->connected(); }, 10s);
  const auto lost_at = Clock::now();
  const auto longest_gap = ticker.longest_gap;
  publishing = false;
  thawer.thaw();

  const double seconds = std::chrono::duration<double>(lost_at - frozen_at).count();
  MESSAGE("loss noticed after ", seconds, " s (heartbeat 2 s); longest loop stall ",
          std::chrono::duration<double>(longest_gap).count(), " s; ", held_back,
          " publishes held back; ", published, " published in all");
  CHECK(lost);
  CHECK(seconds <= 4.0);
  CHECK(longest_gap < 1s);
  CHECK(held_back > 0); // the socket really filled: the Publisher held messages back

  const bool settled = test::run_until(
      &f.loop, [&] { return confirmed + failed == published; }, 180s);
  CHECK(settled);
  CHECK(failed == 0);
  CHECK(f.broker->reconnects() >= 1);
  MESSAGE("republished after the reconnect: ", f.broker->publisher().republished());
}

} // namespace

TEST_CASE("publishing large messages into a frozen broker never blocks the loop") {
  publish_into_a_frozen_broker(false);
}

TEST_CASE("over TLS too, publishing into a frozen broker never blocks the loop") {
  publish_into_a_frozen_broker(true);
}

// A message larger than the socket can hold at all (its send buffer and the
// frozen broker's receive buffer): its body frames go out as room appears,
// so even that never blocks the loop.
TEST_CASE("a message larger than the socket can hold, into a frozen broker, never blocks") {
  const std::string name = test::unique_name("celeriac.test.backpressure.huge.");
  test::BrokerFixture f({QueueSpec{name, false, 9}}, false, [](BrokerOptions& options) {
    options.connection.heartbeat = 2s;
    options.reconnect_max = 1s;
  });
  f.publish_all({test::test_job(name, 0, 1)});
  const pid_t pid = test::broker_pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  const auto frozen_at = Clock::now();
  Thawer thawer(pid, 15s);
  Ticker ticker(&f.loop);
  Message huge;
  huge.body.assign(48 * 1024 * 1024, 'h');
  std::optional<PublishResult> result;
  f.broker->publish(
      Outgoing{"", name, std::move(huge), [&](const PublishResult& r) { result = r; }});
  const bool lost = test::run_until(
      &f.loop, [&] { return !f.broker->connected(); }, 10s);
  const auto lost_at = Clock::now();
  const auto longest_gap = ticker.longest_gap;
  thawer.thaw();
  const double seconds = std::chrono::duration<double>(lost_at - frozen_at).count();
  MESSAGE("loss noticed after ", seconds, " s; longest loop stall ",
          std::chrono::duration<double>(longest_gap).count(), " s");
  CHECK(lost);
  CHECK(seconds <= 4.0);
  CHECK(longest_gap < 1s);
  REQUIRE(test::run_until(
      &f.loop, [&] { return result.has_value(); }, 120s));
  CHECK(result->status == PublishStatus::Confirmed);
  CHECK(f.broker->reconnects() >= 1);
}
