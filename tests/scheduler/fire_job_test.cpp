// fire_job_id and fire_job: pure, no servers. The id is pinned against
// Python's uuid.uuid5 over the same namespace and name, so it can never
// change between versions without this failing.
#include "celeriac/scheduler/fire_job.hpp"

#include <doctest/doctest.h>

#include "celeriac/core/error.hpp"

namespace {

using celeriac::Timestamp;
using celeriac::scheduler::fire_job;
using celeriac::scheduler::fire_job_id;
using namespace std::chrono_literals;

Timestamp at(std::string_view iso) {
  const auto t = celeriac::parse_iso8601(iso);
  REQUIRE_MESSAGE(t.has_value(), iso);
  return *t;
}

celeriac::Config config_with(celeriac::ScheduleConfig schedule) {
  celeriac::Config config;
  celeriac::QueueConfig low;
  low.name = "low";
  config.queues.push_back(low);
  celeriac::TaskConfig task;
  task.pattern = "reports.build";
  task.keys = {"queue", "priority"};
  task.queue = "low";
  task.priority = 3;
  config.tasks.push_back(task);
  config.schedules.push_back(std::move(schedule));
  return config;
}

celeriac::ScheduleConfig every_five_minutes() {
  celeriac::ScheduleConfig s;
  s.name = "reports";
  s.every = 5min;
  s.task = "reports.build";
  s.args = {7};
  return s;
}

} // namespace

TEST_CASE("fire_job_id is UUID v5 of schedule@fire-time, as Python's uuid.uuid5 computes it") {
  // python3 -c "import uuid; ns = uuid.UUID('6b1f2e7c-0d55-5a8e-9f43-2c613a7e10d4');
  //   print(uuid.uuid5(ns, 'jira-sync@2026-11-24T10:00:00.000000+00:00'))"
  const auto id = fire_job_id("jira-sync", at("2026-11-24T10:00:00Z"));
  CHECK(id.str() == "a0954917-5b33-5a3a-a86f-571e77cb33c0");
  CHECK(id.version() == 5);
  CHECK(fire_job_id("jira-sync", at("2026-11-24T10:00:00.000001Z")) != id);
  CHECK(fire_job_id("jira-sync2", at("2026-11-24T10:00:00Z")) != id);
}

TEST_CASE("fire_job: the task's queue and priority, expiring one period after the publish") {
  const auto config = config_with(every_five_minutes());
  const Timestamp fire = at("2026-11-24T10:00:00Z");
  const Timestamp now = at("2026-11-24T10:00:00.004Z");
  const auto id = fire_job_id("reports", fire);
  const celeriac::Job job = fire_job(config, config.schedules[0], fire, id, now);
  CHECK(job.id == id);
  CHECK(job.task == "reports.build");
  CHECK(job.args == nlohmann::json::array({7}));
  CHECK(job.queue == "low");
  CHECK(job.priority == 3);
  CHECK_FALSE(job.eta.has_value());
  REQUIRE(job.expires.has_value());
  CHECK(*job.expires == now + 5min);
  const auto* schedule = job.extra_headers.find("x-celeriac-schedule");
  REQUIRE(schedule != nullptr);
  CHECK(*schedule == celeriac::HeaderValue(std::string("reports")));
  CHECK(job.extra_headers.find("x-celeriac-fire-time") != nullptr);
}

TEST_CASE("fire_job: the schedule's own queue, priority and expires win; jitter is stable") {
  auto schedule = every_five_minutes();
  schedule.queue = "default";
  schedule.priority = 9;
  schedule.expires = 30s;
  schedule.jitter = 20s;
  const auto config = config_with(schedule);
  const Timestamp fire = at("2026-11-24T10:00:00Z");
  const auto id = fire_job_id("reports", fire);
  const celeriac::Job first = fire_job(config, config.schedules[0], fire, id, fire);
  CHECK(first.queue == "default");
  CHECK(first.priority == 9);
  REQUIRE(first.eta.has_value());
  CHECK(*first.eta >= fire);
  CHECK(*first.eta <= fire + 20s);
  CHECK(*first.expires == *first.eta + 30s);
  // A republish a minute later keeps the eta the id picked.
  const celeriac::Job again = fire_job(config, config.schedules[0], fire, id, fire + 1s);
  CHECK(again.eta == first.eta);
}

TEST_CASE("find_schedule names the configured schedules when NAME is not one") {
  const auto config = config_with(every_five_minutes());
  CHECK(&celeriac::scheduler::find_schedule(config, "reports") == &config.schedules[0]);
  try {
    (void)celeriac::scheduler::find_schedule(config, "nope");
    FAIL("no InvalidInput");
  } catch (const celeriac::InvalidInput& e) {
    CHECK(std::string(e.what()).find("no schedule named 'nope'") != std::string::npos);
    CHECK(std::string(e.what()).find("reports") != std::string::npos);
  }
}
