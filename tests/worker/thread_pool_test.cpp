// The thread pool on a real libuv loop: jobs run in parallel and come back on
// the loop, the soft limit cancels a cooperative task promptly, and the hard
// limit fails a task that ignores it, abandons its thread and keeps the pool
// at full strength.
#include "celeriac/worker/thread_pool.hpp"

#include <doctest/doctest.h>

#include <sched.h>

#include <atomic>
#include <thread>

#include "../broker/loop_runner.hpp"
#include "celeriac/tasks/demo.hpp"
#include "numbered_job.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

struct PoolFixture {
  uv_loop_t loop{};
  TaskRegistry registry;
  std::unique_ptr<ThreadPool> pool;

  explicit PoolFixture(std::size_t threads) {
    uv_loop_init(&loop);
    tasks::register_demo_tasks(registry);
    pool = std::make_unique<ThreadPool>(&loop, threads);
  }
  ~PoolFixture() {
    pool.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(test::close_loop(&loop) == 0);
  }
  test::JobNumbers job;
};

} // namespace

TEST_CASE("jobs run on the pool's threads and their outcomes come back on the loop") {
  PoolFixture f(4);
  std::vector<TaskOutcome> outcomes;
  std::size_t most_busy = 0;
  for (int i = 0; i < 8; ++i) {
    f.pool->run(f.job("demo.add", {i, 1}), *f.registry.find("demo.add"),
                [&](TaskOutcome o) { outcomes.push_back(std::move(o)); });
  }
  REQUIRE(test::run_until(
      &f.loop,
      [&] {
        most_busy = std::max(most_busy, f.pool->busy());
        return outcomes.size() == 8;
      },
      10s));
  for (const auto& o : outcomes)
    CHECK(std::holds_alternative<Succeeded>(o));
  CHECK(most_busy <= 4);
  CHECK(f.pool->busy() == 0);
}

TEST_CASE("pool threads run under SCHED_BATCH, so handing one a job does not preempt the loop") {
  const int loop_policy = sched_getscheduler(0);
  PoolFixture f(2);
  f.registry.add("test.policy", [](TaskContext&) { return sched_getscheduler(0); });
  std::vector<TaskOutcome> outcomes;
  for (int i = 0; i < 4; ++i) {
    f.pool->run(f.job("test.policy", nlohmann::json::array()), *f.registry.find("test.policy"),
                [&](TaskOutcome o) { outcomes.push_back(std::move(o)); });
  }
  REQUIRE(test::run_until(
      &f.loop, [&] { return outcomes.size() == 4; }, 10s));
  for (const auto& o : outcomes)
    CHECK(o == TaskOutcome{Succeeded{SCHED_BATCH}});
  CHECK(sched_getscheduler(0) == loop_policy); // the loop's thread keeps its own
}

TEST_CASE("the soft limit cancels a cooperative task within 100 ms") {
  PoolFixture f(2);
  TaskRegistry registry;
  std::atomic<std::int64_t> noticed_ms{-1};
  registry.add("t.watch", [&](TaskContext& ctx) -> nlohmann::json {
    const auto start = std::chrono::steady_clock::now();
    while (!ctx.cancelled())
      std::this_thread::sleep_for(1ms);
    noticed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
    ctx.checkpoint();
    return nullptr;
  });
  Job job = f.job("t.watch", nlohmann::json::array());
  job.soft_time_limit = 300ms;
  std::optional<TaskOutcome> outcome;
  f.pool->run(job, *registry.find("t.watch"), [&](TaskOutcome o) { outcome = std::move(o); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return outcome.has_value(); }, 10s));
  CHECK(std::get<Failed>(*outcome).type == "SoftTimeLimitExceeded");
  MESSAGE("cancel noticed after " << noticed_ms.load() << " ms (limit 300 ms)");
  CHECK(noticed_ms.load() >= 290); // the limit counts from when the pool saw the job start
  CHECK(noticed_ms.load() < 400);
}

TEST_CASE("the hard limit fails a task that ignores cancellation and replaces its thread") {
  PoolFixture f(2);
  bool too_many_stuck = false;
  f.pool->on_too_many_stuck = [&] { too_many_stuck = true; };
  Job spin = f.job("demo.spin", {2});
  spin.hard_time_limit = 200ms;
  std::optional<TaskOutcome> spun;
  f.pool->run(spin, *f.registry.find("demo.spin"), [&](TaskOutcome o) { spun = std::move(o); });
  REQUIRE(test::run_until(
      &f.loop, [&] { return spun.has_value(); }, 10s));
  const auto failed = std::get<Failed>(*spun);
  CHECK(failed.type == "TimeLimitExceeded");
  CHECK(failed.kind == ErrorKind::Timeout);
  CHECK(f.pool->stuck() == 1);
  CHECK(too_many_stuck); // 1 of 2 threads stuck: half the pool
  // The pool still has two runners: two jobs at once both complete.
  int added = 0;
  for (int i = 0; i < 2; ++i) {
    f.pool->run(f.job("demo.sleep", {0.05}), *f.registry.find("demo.sleep"),
                [&](TaskOutcome o) { added += std::holds_alternative<Succeeded>(o); });
  }
  REQUIRE(test::run_until(
      &f.loop, [&] { return added == 2; }, 10s));
  // The abandoned thread ends on its own; its late outcome is dropped.
  CHECK(test::run_until(
      &f.loop, [&] { return f.pool->stuck() == 0; }, 10s));
}
