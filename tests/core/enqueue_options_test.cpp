#include <doctest/doctest.h>

#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {
const JobId kId = *JobId::parse("11111111-2222-4333-8444-555555555555");
const Timestamp kNow = *parse_iso8601("2026-11-24T12:00:00Z");

Job make(const EnqueueOptions& options, const JobDefaults& defaults = {}) {
  return make_job("demo.add", nlohmann::json::array({2, 3}), nlohmann::json::object(), options,
                  defaults, kId, kNow);
}

// The field named by the InvalidInput that make() throws for OPTIONS.
std::string rejected_field(const EnqueueOptions& options) {
  try {
    make(options);
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "(accepted)";
}
} // namespace

TEST_CASE("make_job applies options over task defaults") {
  JobDefaults defaults{
      .queue = "low", .priority = 2, .soft_time_limit = 240s, .hard_time_limit = 300s};
  Job job = make({}, defaults);
  CHECK(job.id == kId);
  CHECK(job.queue == "low");
  CHECK(job.priority == 2);
  CHECK(job.soft_time_limit == Duration(240s));
  CHECK(job.root_id == kId);

  EnqueueOptions o;
  o.queue = "high";
  o.priority = 9;
  o.countdown = 30s;
  o.expires_in = 1h;
  job = make(o, defaults);
  CHECK(job.queue == "high");
  CHECK(job.priority == 9);
  CHECK(job.eta == kNow + 30s);
  CHECK(job.expires == kNow + 1h);
}

TEST_CASE("make_job rejects bad options, naming the field") {
  EnqueueOptions o;
  o.priority = 12;
  CHECK(rejected_field(o) == "priority");
  o = {};
  o.priority = -1;
  CHECK(rejected_field(o) == "priority");
  o = {};
  o.countdown = -5s;
  CHECK(rejected_field(o) == "countdown");
  o = {};
  o.countdown = 5s;
  o.eta = kNow + 10s;
  CHECK(rejected_field(o) == "countdown");
  o = {};
  o.eta = kNow + 1h;
  o.expires = kNow + 30min;
  CHECK(rejected_field(o) == "expires");
  o = {};
  o.expires = kNow - 1s;
  CHECK(rejected_field(o) == "expires");
  o = {};
  o.soft_time_limit = 10s;
  o.hard_time_limit = 5s;
  CHECK(rejected_field(o) == "soft_time_limit");
  o = {};
  o.queue = "";
  CHECK(rejected_field(o) == "queue");
  o = {};
  o.id = JobId();
  CHECK(rejected_field(o) == "id");

  CHECK_THROWS_WITH_AS(
      make_job("", nlohmann::json::array(), nlohmann::json::object(), {}, {}, kId, kNow),
      "task: must not be empty", InvalidInput);
  CHECK_THROWS_AS(
      make_job("has space", nlohmann::json::array(), nlohmann::json::object(), {}, {}, kId, kNow),
      InvalidInput);
  CHECK_THROWS_WITH_AS(
      make_job("demo.add", nlohmann::json::object(), nlohmann::json::object(), {}, {}, kId, kNow),
      "args: must be a JSON array", InvalidInput);
  CHECK_THROWS_WITH_AS(
      make_job("demo.add", nlohmann::json::array(), nlohmann::json::array(), {}, {}, kId, kNow),
      "kwargs: must be a JSON object", InvalidInput);
}
