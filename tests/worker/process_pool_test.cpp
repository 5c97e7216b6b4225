// The process pool with real children (tests/worker/pool_child_main.cpp): jobs
// run in other processes, a crash fails only its job, soft and hard limits,
// and recycling after max_tasks_per_child.
#include "celeriac/worker/process_pool.hpp"

#include <doctest/doctest.h>

#include <sched.h>

#include "../broker/loop_runner.hpp"
#include "celeriac/tasks/demo.hpp"
#include "job_description.hpp"
#include "numbered_job.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

struct ProcessPoolFixture {
  uv_loop_t loop{};
  TaskRegistry registry;
  std::unique_ptr<ProcessPool> pool;

  explicit ProcessPoolFixture(std::size_t size, std::uint64_t max_tasks = 0) {
    uv_loop_init(&loop);
    tasks::register_demo_tasks(registry);
    ProcessPoolOptions options;
    options.size = size;
    options.executable = CELERIAC_POOL_CHILD;
    options.arguments = {"--pool-child"};
    options.max_tasks_per_child = max_tasks;
    options.kill_grace = 500ms;
    pool = std::make_unique<ProcessPool>(&loop, options);
    pool->start();
  }
  ~ProcessPoolFixture() {
    pool.reset();
    uv_run(&loop, UV_RUN_DEFAULT); // until the children's handles are closed
    CHECK(test::close_loop(&loop) == 0);
  }
  test::JobNumbers job;
  TaskOutcome run_one(const Job& one, std::chrono::milliseconds timeout = 20s) {
    std::optional<TaskOutcome> outcome;
    pool->run(one, *registry.find(one.task), [&](TaskOutcome o) { outcome = std::move(o); });
    REQUIRE(test::run_until(
        &loop, [&] { return outcome.has_value(); }, timeout));
    return *outcome;
  }
};

} // namespace

TEST_CASE("jobs run in the children and their outcomes come back") {
  ProcessPoolFixture f(2);
  std::vector<TaskOutcome> outcomes;
  for (int i = 0; i < 6; ++i) {
    f.pool->run(f.job("demo.add", {i, 10}), *f.registry.find("demo.add"),
                [&](TaskOutcome o) { outcomes.push_back(std::move(o)); });
  }
  REQUIRE(test::run_until(
      &f.loop, [&] { return outcomes.size() == 6; }, 20s));
  int sum = 0;
  for (const auto& o : outcomes)
    sum += std::get<Succeeded>(o).result.get<int>();
  CHECK(sum == 0 + 1 + 2 + 3 + 4 + 5 + 60);
  CHECK(f.pool->children_started() == 2);
  CHECK(f.pool->busy() == 0);
}

TEST_CASE("children run under SCHED_BATCH, so a job written to one does not preempt the loop") {
  ProcessPoolFixture f(1);
  f.registry.add("test.policy", [](TaskContext&) { return -1; }); // runs in the child only
  CHECK(f.run_one(f.job("test.policy", nlohmann::json::array())) ==
        TaskOutcome{Succeeded{SCHED_BATCH}});
}

TEST_CASE("a job reaches its child with every field as it was") {
  ProcessPoolFixture f(1);
  f.registry.add("test.describe_job", [](TaskContext&) { return nullptr; }); // runs in the child
  Job full = f.job("test.describe_job", nlohmann::json::array({1, "two", {{"three", 3.5}}}));
  full.kwargs = {{"key", "välue \"quoted\""}, {"list", {1, 2}}};
  full.queue = "high";
  full.priority = 7;
  full.eta = Timestamp(std::chrono::microseconds(1'700'000'000'123'456));
  full.expires = Timestamp(std::chrono::microseconds(1'800'000'000'000'001));
  full.retries = 3;
  full.soft_time_limit = std::chrono::microseconds(1'500'000);
  full.hard_time_limit = std::chrono::seconds(9);
  full.parent_id = f.job("x", nlohmann::json::array()).id;
  full.root_id = f.job("x", nlohmann::json::array()).id;
  full.group = "g-1";
  full.group_index = 4;
  full.ignore_result = true;
  full.shadow = "shown";
  full.origin = "123@host";
  full.reply_to = "replies";
  full.argsrepr = "(1, 'two')";
  full.kwargsrepr = "{'key': ...}";
  full.sent_at = Timestamp(std::chrono::microseconds(1'700'000'000'000'999));
  full.embed = {{"callbacks", nullptr},
                {"errbacks", nullptr},
                {"chain", {{{"task", "demo.add"}}}},
                {"chord", nullptr}};
  full.extra_headers.set("x-custom", HeaderValue(std::string("kept")));
  CHECK(f.run_one(full) == TaskOutcome{Succeeded{test::describe(full)}});
  // And a job with nothing but the required fields.
  const Job bare = f.job("test.describe_job", nlohmann::json::array());
  CHECK(f.run_one(bare) == TaskOutcome{Succeeded{test::describe(bare)}});
}

TEST_CASE("each kind of outcome comes back from the child as it left it") {
  ProcessPoolFixture f(1);
  f.registry.add("test.outcome", [](TaskContext&) { return nullptr; }); // runs in the child
  const auto outcome = [&](const char* kind) {
    return f.run_one(f.job("test.outcome", nlohmann::json::array({kind})));
  };
  CHECK(outcome("success") ==
        TaskOutcome{Succeeded{{{"text", "välue\n"}, {"n", {1, 2.5, nullptr, true}}}}});
  CHECK(outcome("retry") ==
        TaskOutcome{RetryRequested{std::chrono::milliseconds(1500), "try later: \"quoted\""}});
  CHECK(outcome("reject") == TaskOutcome{Rejected{"never again"}});
  const std::size_t limit = 64u << 20;
  const TaskOutcome largest = outcome("largest");
  REQUIRE(std::holds_alternative<Succeeded>(largest));
  CHECK(std::get<Succeeded>(largest).result.get_ref<const std::string&>().size() == limit - 3);
  const TaskOutcome too_large = outcome("too large");
  REQUIRE(std::holds_alternative<Failed>(too_large));
  CHECK(std::get<Failed>(too_large).type == "ResultTooLarge");
  CHECK(std::get<Failed>(too_large).kind == ErrorKind::Validation);
  CHECK(std::get<Failed>(too_large).message.find(std::to_string(limit) + " bytes") !=
        std::string::npos);
  CHECK(f.pool->children_started() == 1); // the child was not taken for broken
  CHECK(outcome("failure") == TaskOutcome{Failed{"TaskFailure", ErrorKind::Http, "slow down", 429,
                                                 std::chrono::seconds(30)}});
}

TEST_CASE("a job too big for a frame fails for good without reaching a child") {
  ProcessPoolFixture f(1);
  const TaskOutcome outcome =
      f.run_one(f.job("demo.add", nlohmann::json::array({std::string(64u << 20, 'x'), 1})));
  REQUIRE(std::holds_alternative<Failed>(outcome));
  CHECK(std::get<Failed>(outcome).type == "JobTooLarge");
  CHECK(std::get<Failed>(outcome).kind == ErrorKind::Validation);
  // The pool goes on: the next job runs in the same child.
  CHECK(f.run_one(f.job("demo.add", {2, 3})) == TaskOutcome{Succeeded{5}});
  CHECK(f.pool->children_started() == 1);
}

TEST_CASE("a child that dies fails only its job, as WorkerLost, and is replaced") {
  ProcessPoolFixture f(1);
  const auto lost = std::get<Failed>(f.run_one(f.job("demo.crash", nlohmann::json::array())));
  CHECK(lost.type == "WorkerLost");
  CHECK(lost.kind == ErrorKind::WorkerLost);
  CHECK(lost.message.find("signal 9") != std::string::npos);
  CHECK(f.run_one(f.job("demo.add", {1, 2})) == TaskOutcome{Succeeded{3}});
  CHECK(f.pool->children_started() == 2);
}

TEST_CASE("the soft limit reaches the task in its child as cancellation") {
  ProcessPoolFixture f(1);
  Job job = f.job("demo.sleep", {30});
  job.soft_time_limit = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const auto failed = std::get<Failed>(f.run_one(job));
  CHECK(failed.type == "SoftTimeLimitExceeded");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(f.pool->children_started() == 1); // the child survives a soft limit
}

TEST_CASE("the hard limit kills a task that ignores cancellation and replaces its child") {
  ProcessPoolFixture f(1);
  Job job = f.job("demo.spin", {30});
  job.hard_time_limit = 300ms;
  const auto start = std::chrono::steady_clock::now();
  const auto failed = std::get<Failed>(f.run_one(job));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(failed.type == "TimeLimitExceeded");
  MESSAGE("hard limit 300 ms; outcome after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 300ms + 1s);
  CHECK(f.run_one(f.job("demo.add", {2, 2})) == TaskOutcome{Succeeded{4}});
  CHECK(f.pool->children_started() == 2);
}

TEST_CASE("children are recycled after max_tasks_per_child jobs") {
  ProcessPoolFixture f(1, 2);
  for (int i = 0; i < 5; ++i)
    CHECK(f.run_one(f.job("demo.add", {i, 0})) == TaskOutcome{Succeeded{i}});
  CHECK(test::run_until(
      &f.loop, [&] { return f.pool->children_started() == 3; }, 5s));
}
