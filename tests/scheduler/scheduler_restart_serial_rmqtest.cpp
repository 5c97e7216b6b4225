// A leading Scheduler on the real clock while its servers restart: RabbitMQ
// once, then PostgreSQL once. Checked: a 1-second schedule with catch_up =
// "all" has one fire record for every second from its first fire to its
// last, every fire ends up published, and the queue holds a message for each
// (copies with the same job id are counted and printed). Runs alone: it stops
// the shared servers.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <deque>
#include <map>
#include <thread>

#include "../broker/broker_fixture.hpp"
#include "../broker/broker_process.hpp"
#include "../store/scratch_schema.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/scheduler/scheduler.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace {

using namespace std::chrono_literals;
using celeriac::test::required_env;
namespace store = celeriac::store;

} // namespace

TEST_CASE("the broker, then the database, restarts under a leading scheduler: no second is lost") {
  celeriac::test::ScratchSchema db{"celeriac_sched_restart_"};
  const std::string queue = celeriac::test::unique_name("sched_restart_");
  celeriac::Config config;
  config.broker.url = required_env("CELERIAC_BROKER_URL");
  config.database.url = required_env("CELERIAC_DATABASE_URL");
  config.database.schema = db.name;
  celeriac::QueueConfig q;
  q.name = queue;
  config.queues = {q};
  celeriac::ScheduleConfig every;
  every.name = "tick";
  every.every = 1s;
  every.task = "demo.add";
  every.queue = queue;
  every.catch_up = celeriac::CatchUp::All;
  every.expires = 10min;
  config.schedules = {every};

  celeriac::scheduler::SchedulerOptions options;
  options.name = "restart";
  options.publish_timeout = 2s;
  options.republish_after = 2s;
  options.republish_interval = 1s;
  auto scheduler = std::make_unique<celeriac::scheduler::Scheduler>(config, options);
  std::thread loop([&] { scheduler->run(); });
  const auto fire_count = [&] {
    try {
      pqxx::connection conn{required_env("CELERIAC_DATABASE_URL")};
      return store::fires_of(conn, db.name, "tick").size();
    } catch (const std::exception&) {
      return std::size_t{0}; // the database is restarting
    }
  };
  REQUIRE(celeriac::test::eventually([&] { return fire_count() >= 3; }, 10s, 50ms));
  // Fires recorded before the last second are all published (the broker's
  // reconnect backoff may take a while after a restart).
  const auto caught_up = [&] {
    try {
      pqxx::connection conn{required_env("CELERIAC_DATABASE_URL")};
      const auto fires = store::fires_of(conn, db.name, "tick");
      return std::all_of(fires.begin(), fires.end(), [&](const store::FireRecord& f) {
        return f.published_at.has_value() || f.fire_time + 2s > fires.back().fire_time;
      });
    } catch (const std::exception&) {
      return false;
    }
  };

  CHECK(celeriac::test::services("down rabbitmq") == 0);
  std::this_thread::sleep_for(3s); // fires are recorded, none can be published
  CHECK(celeriac::test::services("up rabbitmq") == 0);
  const auto after_broker = fire_count() + 3;
  REQUIRE(celeriac::test::eventually([&] { return fire_count() >= after_broker; }, 30s, 100ms));
  REQUIRE(celeriac::test::eventually(caught_up, 60s, 200ms));

  CHECK(celeriac::test::services("down postgres") == 0);
  std::this_thread::sleep_for(3s); // the leader stands down: it cannot prove it holds the lock
  CHECK(celeriac::test::services("up postgres") == 0);
  REQUIRE(celeriac::test::eventually([&] { return scheduler->is_leader(); }, 30s, 100ms));
  const auto after_database = fire_count() + 3;
  REQUIRE(celeriac::test::eventually([&] { return fire_count() >= after_database; }, 30s, 100ms));
  REQUIRE(celeriac::test::eventually(caught_up, 30s, 200ms));
  scheduler->stop();
  loop.join();
  CHECK(scheduler->metrics().leadership_changes() >= 3); // led, stood down, led again
  scheduler.reset();

  pqxx::connection conn{required_env("CELERIAC_DATABASE_URL")};
  const auto fires = store::fires_of(conn, db.name, "tick");
  std::size_t unpublished = 0;
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < fires.size(); ++i) {
    if (!fires[i].published_at) ++unpublished;
    if (i == 0) continue;
    for (auto t = fires[i - 1].fire_time + 1s; t < fires[i].fire_time; t += 1s) {
      missing.push_back(celeriac::format_iso8601(t));
    }
  }
  // The last pass may have stopped between a fire's publish and its mark.
  CHECK(unpublished <= 1);
  CHECK_MESSAGE(missing.empty(), fmt::format("missing: {}", fmt::join(missing, ", ")));

  celeriac::test::BrokerFixture broker{
      {celeriac::broker::QueueSpec{queue, false, 9}},
      false,
      [](celeriac::broker::BrokerOptions& o) { o.connection.heartbeat = {}; }};
  const auto jobs = broker.take_all(queue);
  std::map<celeriac::JobId, int> copies;
  for (const auto& job : jobs)
    ++copies[job.id];
  std::size_t duplicates = 0;
  for (const auto& fire : fires) {
    if (!fire.published_at) continue;
    CHECK_MESSAGE(copies[fire.job_id] >= 1, celeriac::format_iso8601(fire.fire_time));
    if (copies[fire.job_id] > 1) duplicates += static_cast<std::size_t>(copies[fire.job_id] - 1);
  }
  MESSAGE(fmt::format("{} fires from {} to {}, {} message(s), {} copies with the same job id",
                      fires.size(), celeriac::format_iso8601(fires.front().fire_time),
                      celeriac::format_iso8601(fires.back().fire_time), jobs.size(), duplicates));
}
