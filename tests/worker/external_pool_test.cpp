// External-command tasks in both pools, where the hard limit is the pool's:
// the process pool kills its child (SIGTERM, or SIGKILL for revoke
// --terminate) and the thread pool abandons its thread. Either way the
// command must not outlive its job. Each command writes a pid to a file first.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "../broker/loop_runner.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/task_config.hpp"
#include "celeriac/worker/thread_pool.hpp"
#include "numbered_job.hpp"
#include "pid_probe.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

struct PidFile {
  std::string path =
      (std::filesystem::temp_directory_path() / ("celeriac-ext-pool-" + std::to_string(::getpid())))
          .string();
  PidFile() { std::filesystem::remove(path); }
  ~PidFile() { std::filesystem::remove(path); }
};

// ext.stubborn ignores SIGTERM and waits for a background sleep, whose pid
// it writes: only a kill of the whole process group reaches that grandchild.
// ext.direct execs sleep, so its pid is the command's own. ext.echo answers.
std::string config_text(const PidFile& pids) {
  return R"(
[tasks."ext.stubborn"]
command = ["/bin/sh", "-c", "trap '' TERM; sleep 30 & echo $! > )" +
         pids.path + R"(; wait"]
hard_time_limit = "1s"
[tasks."ext.direct"]
command = ["/bin/sh", "-c", "echo $$ > )" +
         pids.path + R"(; exec sleep 30"]
[tasks."ext.echo"]
command = ["/bin/sh", "-c", "cat"]
)";
}

struct Pools {
  PidFile pids;
  uv_loop_t loop{};
  TaskRegistry registry;
  test::JobNumbers job;

  Pools() {
    uv_loop_init(&loop);
    apply_task_config(parse_config(config_text(pids), "t"), registry);
  }
  ~Pools() {
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(test::close_loop(&loop) == 0);
  }

  std::unique_ptr<ProcessPool> process_pool() {
    ProcessPoolOptions options;
    options.executable = CELERIAC_POOL_CHILD;
    options.arguments = {"--pool-child", "--config-text", config_text(pids)};
    options.kill_grace = 500ms;
    auto pool = std::make_unique<ProcessPool>(&loop, options);
    pool->start();
    return pool;
  }

  TaskOutcome run(TaskRunner& pool, const Job& one, std::optional<TaskOutcome>& outcome) {
    pool.run(one, *registry.find(one.task), [&](TaskOutcome o) { outcome = std::move(o); });
    REQUIRE(test::run_until(
        &loop, [&] { return outcome.has_value(); }, 20s));
    return *outcome;
  }
};

} // namespace

TEST_CASE("process pool: an external task runs in the child with the config's command") {
  Pools f;
  auto pool = f.process_pool();
  std::optional<TaskOutcome> outcome;
  const Job echo = f.job("ext.echo", {1, 2});
  const TaskOutcome echoed = f.run(*pool, echo, outcome);
  REQUIRE(std::holds_alternative<Succeeded>(echoed));
  CHECK(std::get<Succeeded>(echoed).result["job"]["id"] == echo.id.str());
  pool.reset();
}

TEST_CASE("process pool: the hard limit kills the child, and the command with it") {
  Pools f;
  auto pool = f.process_pool();
  std::optional<TaskOutcome> outcome;
  const auto start = std::chrono::steady_clock::now();
  const TaskOutcome timed_out =
      f.run(*pool, f.job("ext.stubborn", nlohmann::json::array()), outcome);
  REQUIRE(std::holds_alternative<Failed>(timed_out));
  CHECK(std::get<Failed>(timed_out).kind == ErrorKind::Timeout);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  const long pid = test::pid_in_file(f.pids.path, 1s);
  REQUIRE(pid > 0);
  CHECK(test::dies_within(pid, 2s));
  pool.reset();
}

TEST_CASE("process pool: revoke --terminate SIGKILLs the child; the command follows it") {
  Pools f;
  auto pool = f.process_pool();
  const Job stubborn = f.job("ext.direct", nlohmann::json::array());
  std::optional<TaskOutcome> outcome;
  pool->run(stubborn, *f.registry.find(stubborn.task), [&](TaskOutcome o) { outcome = o; });
  long pid = 0;
  REQUIRE(test::run_until(
      &f.loop, [&] { return (pid = test::pid_in_file(f.pids.path, 1ms)) > 0; }, 10s));
  REQUIRE(pool->terminate(stubborn.id));
  REQUIRE(test::run_until(
      &f.loop, [&] { return outcome.has_value(); }, 10s));
  CHECK(test::dies_within(pid, 2s)); // PR_SET_PDEATHSIG
  pool.reset();
}

TEST_CASE("thread pool: the hard limit abandons the thread, and the task kills the command") {
  Pools f;
  auto pool = std::make_unique<ThreadPool>(&f.loop, 1);
  std::optional<TaskOutcome> outcome;
  const TaskOutcome timed_out =
      f.run(*pool, f.job("ext.stubborn", nlohmann::json::array()), outcome);
  REQUIRE(std::holds_alternative<Failed>(timed_out));
  CHECK(std::get<Failed>(timed_out).type == "TimeLimitExceeded");
  const long pid = test::pid_in_file(f.pids.path, 1s);
  REQUIRE(pid > 0);
  CHECK(test::dies_within(pid, 2s));
  pool.reset();
}
