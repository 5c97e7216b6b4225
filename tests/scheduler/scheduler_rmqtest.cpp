// The Scheduler in-process against the private RabbitMQ and PostgreSQL, its
// clock faked through tick(now): DST days, catch-up after downtime, leader
// election between replicas, a leader whose session dies, the HTTP endpoint, republishing a dead
// leader's unconfirmed fire, and two replicas that both believe they lead.
#include "celeriac/scheduler/scheduler.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "../broker/broker_fixture.hpp"
#include "../store/scratch_schema.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/scheduler/fire_job.hpp"
#include "celeriac/scheduler/scheduler_http.hpp"
#include "celeriac/store/job_changes.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace {

using celeriac::CatchUp;
using celeriac::Config;
using celeriac::Duration;
using celeriac::Job;
using celeriac::JobId;
using celeriac::ScheduleConfig;
using celeriac::Timestamp;
using celeriac::scheduler::Scheduler;
using celeriac::test::required_env;
using namespace std::chrono_literals;
namespace store = celeriac::store;

Timestamp at(std::string_view iso) {
  const auto t = celeriac::parse_iso8601(iso);
  REQUIRE_MESSAGE(t.has_value(), iso);
  return *t;
}

ScheduleConfig cron_schedule(const std::string& name, const std::string& cron,
                             const std::string& tz) {
  ScheduleConfig s;
  s.name = name;
  s.cron = cron;
  s.tz = tz;
  s.task = "demo.add";
  s.args = {1, 2};
  s.catch_up = CatchUp::All;
  return s;
}

ScheduleConfig every_schedule(const std::string& name, celeriac::Duration every, CatchUp policy,
                              celeriac::Duration lookback = 1min) {
  ScheduleConfig s;
  s.name = name;
  s.every = every;
  s.task = "demo.add";
  s.args = {1, 2};
  s.catch_up = policy;
  s.lookback = lookback;
  return s;
}

// A queue and a schema of the test's own, and a configuration naming them.
struct SchedulerWorld {
  celeriac::test::ScratchSchema db{"celeriac_sched_"};
  std::string queue = celeriac::test::unique_name("sched_");
  celeriac::test::BrokerFixture broker{
      {celeriac::broker::QueueSpec{queue, false, 9}},
      false,
      [](celeriac::broker::BrokerOptions& o) { o.connection.heartbeat = {}; }};
  Config config;

  explicit SchedulerWorld(std::vector<ScheduleConfig> schedules) {
    config.broker.url = required_env("CELERIAC_BROKER_URL");
    config.database.url = required_env("CELERIAC_DATABASE_URL");
    config.database.schema = db.name;
    celeriac::QueueConfig q;
    q.name = queue;
    config.queues = {q};
    for (auto& s : schedules)
      s.queue = queue;
    config.schedules = std::move(schedules);
  }

  std::unique_ptr<Scheduler> replica(const std::string& name) {
    celeriac::scheduler::SchedulerOptions options;
    options.name = name;
    options.republish_after = Duration::zero(); // the fake clock does not move the database's
    return std::make_unique<Scheduler>(config, options);
  }

  // The fire times recorded for SCHEDULE, as text.
  std::vector<std::string> fires(const std::string& schedule) {
    std::vector<std::string> out;
    for (const auto& fire : store::fires_of(db.conn, db.name, schedule)) {
      CHECK_MESSAGE(fire.published_at.has_value(), schedule, " fire not published");
      CHECK(fire.job_id == celeriac::scheduler::fire_job_id(schedule, fire.fire_time));
      CHECK_FALSE(fire.manual);
      out.push_back(celeriac::format_iso8601(fire.fire_time));
    }
    return out;
  }

  // Every message now in the queue (drained).
  std::vector<Job> drain() { return broker.take_all(queue); }

  // Drains until PREDICATE holds for what was taken so far (a republish does
  // not wait for its confirm, so its message may not be queued yet).
  std::vector<Job> drain_until(const std::function<bool(const std::vector<Job>&)>& predicate) {
    std::vector<Job> all;
    celeriac::test::eventually(
        [&] {
          for (auto& job : drain())
            all.push_back(std::move(job));
          return predicate(all);
        },
        10s, 20ms);
    return all;
  }
};

std::vector<std::string> texts(std::initializer_list<std::string_view> isos) {
  std::vector<std::string> out;
  for (const auto iso : isos)
    out.push_back(celeriac::format_iso8601(at(iso)));
  return out;
}

} // namespace

TEST_CASE(
    "DST fall-back through the scheduler: a fixed-hour cron fires once, a wildcard-hour"
    " one in both passes") {
  // New York repeats 01:00-01:59 on 2027-11-07 (EDT 05:00-05:59Z, then EST 06:00-06:59Z).
  SchedulerWorld world({cron_schedule("nightly", "30 1 * * *", "America/New_York"),
                        cron_schedule("half_hourly", "*/30 * * * *", "America/New_York")});
  auto scheduler = world.replica("dst");
  // The fake clock: just after each interesting instant.
  for (const char* now :
       {"2027-11-07T04:00:00Z", "2027-11-07T05:00:00.010Z", "2027-11-07T05:30:00.010Z",
        "2027-11-07T06:00:00.010Z", "2027-11-07T06:30:00.010Z", "2027-11-07T07:00:00.010Z",
        "2027-11-08T06:30:00.010Z"}) {
    scheduler->tick(at(now));
    CHECK(scheduler->is_leader());
  }
  CHECK(world.fires("nightly") == texts({"2027-11-07T05:30:00Z", "2027-11-08T06:30:00Z"}));
  // The wildcard-hour job through the repeated hour: both passes, 30 real minutes apart.
  std::vector<std::string> night;
  const auto half_hourly = world.fires("half_hourly");
  for (const auto& fire : half_hourly) {
    if (fire >= celeriac::format_iso8601(at("2027-11-07T04:45:00Z")) &&
        fire <= celeriac::format_iso8601(at("2027-11-07T07:00:00Z")))
      night.push_back(fire);
  }
  CHECK(night == texts({"2027-11-07T05:00:00Z", "2027-11-07T05:30:00Z", "2027-11-07T06:00:00Z",
                        "2027-11-07T06:30:00Z", "2027-11-07T07:00:00Z"}));
  const auto jobs = world.drain();
  CHECK(jobs.size() == 2 + half_hourly.size());
  std::set<JobId> ids;
  for (const auto& job : jobs)
    ids.insert(job.id);
  CHECK(ids.size() == jobs.size());
  CHECK(ids.contains(celeriac::scheduler::fire_job_id("nightly", at("2027-11-07T05:30:00Z"))));
}

TEST_CASE(
    "DST spring-forward through the scheduler: a fixed-hour job in the gap fires once, at"
    " the end of the gap") {
  // New York skips 02:00-02:59 on 2027-03-14: 07:00Z is 03:00 EDT.
  SchedulerWorld world({cron_schedule("in_gap", "30 2 * * *", "America/New_York")});
  auto scheduler = world.replica("dst");
  for (const char* now :
       {"2027-03-13T12:00:00Z", "2027-03-14T06:59:59Z", "2027-03-14T07:00:00.010Z",
        "2027-03-14T07:30:00.010Z", "2027-03-15T06:30:00.010Z"}) {
    scheduler->tick(at(now));
  }
  CHECK(world.fires("in_gap") == texts({"2027-03-14T07:00:00Z", "2027-03-15T06:30:00Z"}));
  CHECK(world.drain().size() == 2);
}

TEST_CASE("catch-up after downtime: all fires every missed run, once the latest, skip none") {
  SchedulerWorld world({every_schedule("all", 10s, CatchUp::All),
                        every_schedule("once", 10s, CatchUp::Once),
                        every_schedule("skip", 10s, CatchUp::Skip)});
  auto scheduler = world.replica("catch-up");
  // The schedules are new at the database's now(): nothing before the first
  // tick is owed. Then the scheduler is "down" from 10:00:00 to 10:00:45.
  scheduler->tick(at("2027-06-01T10:00:00.005Z"));
  REQUIRE(scheduler->is_leader());
  const std::size_t before_all = world.fires("all").size();
  const std::size_t before_once = world.fires("once").size();
  const std::size_t before_skip = world.fires("skip").size();
  // Missed: 09:59:10-09:59:50 at the first tick (a minute of look-back), 5; 4 now.
  const Timestamp next = scheduler->tick(at("2027-06-01T10:00:45.005Z"));
  CHECK(next <= at("2027-06-01T10:00:50Z"));

  const auto after = [&](const std::string& name, std::size_t skip) {
    auto all = world.fires(name);
    return std::vector<std::string>(all.begin() + static_cast<std::ptrdiff_t>(skip), all.end());
  };
  CHECK(after("all", before_all) == texts({"2027-06-01T10:00:10Z", "2027-06-01T10:00:20Z",
                                           "2027-06-01T10:00:30Z", "2027-06-01T10:00:40Z"}));
  CHECK(after("once", before_once) == texts({"2027-06-01T10:00:40Z"}));
  CHECK(after("skip", before_skip).empty());
  CHECK(scheduler->metrics().prometheus_text().find(
            "celeriac_scheduler_missed_fires_total{schedule=\"skip\"} 9") != std::string::npos);
}

TEST_CASE(
    "replicas: one leads; when its session ends a standby takes over and publishes the"
    " fire it recorded but never confirmed") {
  SchedulerWorld world({every_schedule("tick", 10s, CatchUp::All)});
  auto first = world.replica("first");
  auto second = world.replica("second");
  first->tick(at("2027-06-01T10:00:00.005Z"));
  second->tick(at("2027-06-01T10:00:00.005Z"));
  CHECK(first->is_leader());
  CHECK_FALSE(second->is_leader());
  CHECK(first->metrics().prometheus_text().find("celeriac_scheduler_leader 1") !=
        std::string::npos);
  CHECK(second->metrics().prometheus_text().find("celeriac_scheduler_leader 0") !=
        std::string::npos);
  const auto holder =
      store::advisory_lock_holder(world.db.conn, celeriac::scheduler_lock_key(world.config));
  REQUIRE(holder.has_value());
  CHECK(holder->application_name == "celeriac-scheduler/first");

  // The leader "dies" right after recording the 10:00:10 fire: the row is
  // there, the message never went out.
  store::FireRecord orphan;
  orphan.schedule = "tick";
  orphan.fire_time = at("2027-06-01T10:00:10Z");
  orphan.job_id = celeriac::scheduler::fire_job_id("tick", orphan.fire_time);
  REQUIRE(store::record_fires(world.db.conn, world.db.name, {&orphan, 1}).size() == 1);
  world.drain(); // what the first leader published
  first.reset(); // closes its session: the lock is free

  REQUIRE(celeriac::test::eventually(
      [&] {
        second->tick(at("2027-06-01T10:00:10.500Z"));
        return second->is_leader();
      },
      5s, 100ms));
  const auto jobs = world.drain_until([](const auto& taken) { return !taken.empty(); });
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == orphan.job_id);
  // Republished without waiting for the confirm; the next republish pass
  // (5 s on) marks it.
  second->tick(at("2027-06-01T10:00:16Z"));
  for (const auto& fire : store::fires_of(world.db.conn, world.db.name, "tick")) {
    CHECK(fire.published_at.has_value());
  }
  CHECK(world.drain().empty()); // and did not publish it a second time
}

TEST_CASE("two replicas that both believe they lead record and publish each fire once") {
  SchedulerWorld world({every_schedule("tick", 10s, CatchUp::All)});
  // Different lock keys: each takes "the" lock, as after a split brain.
  world.config.scheduler.lock_key = 1001;
  auto first = world.replica("first");
  world.config.scheduler.lock_key = 1002;
  auto second = world.replica("second");
  for (const char* now :
       {"2027-06-01T10:00:00.005Z", "2027-06-01T10:00:10.005Z", "2027-06-01T10:00:20.005Z"}) {
    first->tick(at(now));
    second->tick(at(now));
    CHECK(first->is_leader());
    CHECK(second->is_leader());
  }
  const auto fires = world.fires("tick");
  const auto jobs = world.drain();
  CHECK(jobs.size() == fires.size());
  std::set<JobId> ids;
  for (const auto& job : jobs)
    ids.insert(job.id);
  CHECK(ids.size() == jobs.size());
}

TEST_CASE("a forced double publish of one fire collapses to one job record") {
  SchedulerWorld world({every_schedule("tick", 10s, CatchUp::All)});
  auto scheduler = world.replica("double");
  scheduler->tick(at("2027-06-01T10:00:00.005Z"));
  scheduler->tick(at("2027-06-01T10:00:10.005Z"));
  // Forget that 10:00:10 was confirmed, as if the confirm had been lost:
  // the next leader publishes it again, with the same id.
  {
    pqxx::work tx{world.db.conn};
    tx.exec_params("update " + world.db.table("schedule_fires") +
                       " set published_at = null where fire_time = $1::timestamptz",
                   celeriac::format_iso8601(at("2027-06-01T10:00:10Z")));
    tx.commit();
  }
  scheduler.reset();
  auto next = world.replica("next");
  next->tick(at("2027-06-01T10:00:10.600Z"));
  REQUIRE(next->is_leader());

  const JobId id = celeriac::scheduler::fire_job_id("tick", at("2027-06-01T10:00:10Z"));
  const auto jobs = world.drain_until([&](const std::vector<Job>& taken) {
    return std::count_if(taken.begin(), taken.end(), [&](const Job& j) { return j.id == id; }) >= 2;
  });
  std::vector<Job> copies;
  for (const auto& job : jobs) {
    if (job.id == id) copies.push_back(job);
  }
  REQUIRE(copies.size() == 2);
  // Both copies run through the store as a worker records them: one row.
  for (const auto& job : copies) {
    const std::vector<store::JobChange> changes = {
        store::received_change(job, at("2027-06-01T10:00:11Z"), "worker@test")};
    pqxx::work tx{world.db.conn};
    store::apply_changes(tx, world.db.name, changes);
    tx.commit();
  }
  CHECK(world.db.scalar<int>("select count(*) from " + world.db.table("jobs") + " where id = '" +
                             id.str() + "'") == 1);
}

TEST_CASE("a leader whose session is terminated stands down at once and a standby takes over") {
  SchedulerWorld world({every_schedule("tick", 10s, CatchUp::All)});
  auto first = world.replica("first");
  auto second = world.replica("second");
  first->tick(at("2027-06-01T10:00:00.005Z"));
  second->tick(at("2027-06-01T10:00:00.005Z"));
  REQUIRE(first->is_leader());
  const auto holder =
      store::advisory_lock_holder(world.db.conn, celeriac::scheduler_lock_key(world.config));
  REQUIRE(holder.has_value());
  {
    pqxx::work tx{world.db.conn};
    tx.exec_params("select pg_terminate_backend($1)", holder->backend_pid);
    tx.commit();
  }
  // Its next pass cannot prove it holds the lock: it stands down without
  // firing 10:00:10, which the standby fires instead.
  first->tick(at("2027-06-01T10:00:10.005Z"));
  CHECK_FALSE(first->is_leader());
  CHECK(first->metrics().leadership_changes() == 2);
  REQUIRE(celeriac::test::eventually(
      [&] {
        second->tick(at("2027-06-01T10:00:10.005Z"));
        return second->is_leader();
      },
      5s, 100ms));
  const auto fires = world.fires("tick");
  CHECK(std::count(fires.begin(), fires.end(),
                   celeriac::format_iso8601(at("2027-06-01T10:00:10Z"))) == 1);
  // The old leader reconnects as a standby.
  first->tick(at("2027-06-01T10:00:11Z"));
  CHECK_FALSE(first->is_leader());
}

TEST_CASE("/healthz says leader or standby; /metrics counts fires and the fire lag") {
  SchedulerWorld world({every_schedule("tick", 10s, CatchUp::Skip)});
  auto first = world.replica("first");
  auto second = world.replica("second");
  celeriac::scheduler::SchedulerHttp first_http(first->metrics(), "127.0.0.1:0");
  celeriac::scheduler::SchedulerHttp second_http(second->metrics(), "127.0.0.1:0");
  first->tick(at("2027-06-01T10:00:00.005Z"));
  second->tick(at("2027-06-01T10:00:00.005Z"));
  httplib::Client leader("127.0.0.1", first_http.port());
  httplib::Client standby("127.0.0.1", second_http.port());
  const auto health = leader.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "leader\n");
  CHECK(standby.Get("/healthz")->body == "standby\n");
  const auto metrics = leader.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("celeriac_scheduler_fires_total{schedule=\"tick\"} 1\n") !=
        std::string::npos);
  CHECK(metrics->body.find("celeriac_scheduler_fire_lag_seconds_count 1\n") != std::string::npos);
  CHECK_THROWS_AS(celeriac::scheduler::SchedulerHttp(first->metrics(), "nonsense"),
                  celeriac::InvalidInput);
}
