// /metrics text: every sample line parses as the Prometheus text format,
// histograms are cumulative and end in +Inf = count, label values are
// escaped; /healthz reasons.
#include "celeriac/worker/worker_metrics.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <sstream>

using namespace celeriac;
using namespace celeriac::worker;

namespace {

// name{labels} value: the sample line of the text format, labels optional.
const std::regex kSample(
    R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfa]+$)re");

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  const auto all = lines(text);
  return std::find(all.begin(), all.end(), line) != all.end();
}

} // namespace

TEST_CASE("the metrics text parses line by line and histograms add up") {
  WorkerMetrics m;
  m.job_finished("demo.add", JobState::Success, 0.003);
  m.job_finished("demo.add", JobState::Success, 0.2);
  m.job_finished("demo.add", JobState::Success, 400); // past the last bucket
  m.job_finished("odd\"name\\", JobState::Failure, 1);
  m.job_waited("high", 0.02);
  m.job_waited("high", 2);
  m.job_waited("low", -0.5); // a sender's clock ahead of ours: counted as no wait
  WorkerGauges g;
  g.inflight = 3;
  g.pool_busy_ratio = 0.75;
  g.store_pending = 12;
  m.set_gauges(g);
  const std::string text = m.prometheus_text();
  for (const auto& line : lines(text)) {
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    CHECK_MESSAGE(std::regex_match(line, kSample), line);
  }
  CHECK(has_line(text, R"(celeriac_tasks_total{task="demo.add",state="SUCCESS"} 3)"));
  CHECK(has_line(text, R"(celeriac_tasks_total{task="odd\"name\\",state="FAILURE"} 1)"));
  CHECK(has_line(
      text,
      R"(celeriac_task_duration_seconds_bucket{task="demo.add",state="SUCCESS",le="0.005"} 1)"));
  CHECK(has_line(
      text,
      R"(celeriac_task_duration_seconds_bucket{task="demo.add",state="SUCCESS",le="0.25"} 2)"));
  CHECK(has_line(
      text,
      R"(celeriac_task_duration_seconds_bucket{task="demo.add",state="SUCCESS",le="300"} 2)"));
  CHECK(has_line(
      text,
      R"(celeriac_task_duration_seconds_bucket{task="demo.add",state="SUCCESS",le="+Inf"} 3)"));
  CHECK(
      has_line(text, R"(celeriac_task_duration_seconds_count{task="demo.add",state="SUCCESS"} 3)"));
  CHECK(has_line(text, "celeriac_worker_inflight 3"));
  CHECK(has_line(text, "celeriac_pool_busy_ratio 0.75"));
  CHECK(has_line(text, "celeriac_store_pending 12"));
  CHECK(has_line(text, "# TYPE celeriac_task_duration_seconds histogram"));
  CHECK(has_line(text, "# TYPE celeriac_task_wait_seconds histogram"));
  CHECK(has_line(text, R"(celeriac_task_wait_seconds_bucket{queue="high",le="0.025"} 1)"));
  CHECK(has_line(text, R"(celeriac_task_wait_seconds_bucket{queue="high",le="2.5"} 2)"));
  CHECK(has_line(text, R"(celeriac_task_wait_seconds_count{queue="high"} 2)"));
  CHECK(has_line(text, R"(celeriac_task_wait_seconds_bucket{queue="low",le="0.005"} 1)"));
  CHECK(has_line(text, R"(celeriac_task_wait_seconds_sum{queue="low"} 0)"));
}

TEST_CASE("health: 503 reasons for draining, a lost broker and a refused queue") {
  WorkerMetrics m;
  CHECK_FALSE(m.health().ok); // nothing known yet: not connected
  WorkerGauges g;
  g.broker_connected = true;
  m.set_gauges(g);
  CHECK(m.health().ok);
  g.unhealthy_queue = "queue 'high': 404 NOT_FOUND";
  m.set_gauges(g);
  CHECK(m.health().reason == "queue 'high': 404 NOT_FOUND");
  g.draining = true;
  m.set_gauges(g);
  CHECK(m.health().reason.starts_with("draining"));
}
