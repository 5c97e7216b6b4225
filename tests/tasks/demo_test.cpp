// The demo tasks run in-process through run_task: results, argument errors,
// cancellation of demo.sleep, and demo.fail's two ends.
#include "celeriac/tasks/demo.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "celeriac/worker/task_outcome.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

TaskOutcome run_demo(const std::string& task, nlohmann::json args,
                     nlohmann::json kwargs = nlohmann::json::object(),
                     const std::function<void(TaskContext&)>& meanwhile = {}) {
  TaskRegistry registry;
  tasks::register_demo_tasks(registry);
  Job job;
  job.task = task;
  job.args = std::move(args);
  job.kwargs = std::move(kwargs);
  TaskContext context(job);
  std::thread other;
  if (meanwhile) other = std::thread([&] { meanwhile(context); });
  TaskOutcome outcome = run_task(*registry.find(task), context);
  if (other.joinable()) other.join();
  return outcome;
}

} // namespace

TEST_CASE("demo.add adds integers exactly, numbers as doubles, by position or name") {
  CHECK(run_demo("demo.add", {2, 3}) == TaskOutcome{Succeeded{5}});
  CHECK(run_demo("demo.add", {9007199254740993LL, 0}) ==
        TaskOutcome{Succeeded{9007199254740993LL}});
  CHECK(run_demo("demo.add", {1.5, 1}) == TaskOutcome{Succeeded{2.5}});
  CHECK(run_demo("demo.add", nlohmann::json::array(), {{"a", 1}, {"b", 2}}) ==
        TaskOutcome{Succeeded{3}});
  const auto bad = std::get<Failed>(run_demo("demo.add", {"x", 1}));
  CHECK(bad.kind == ErrorKind::Validation);
  CHECK(bad.message.find("a: must be a number") != std::string::npos);
}

TEST_CASE("demo.sleep stops at its checkpoint once cancelled") {
  const auto start = std::chrono::steady_clock::now();
  // Cancelled from another thread, before or while it sleeps: either way it
  // must stop at a checkpoint instead of sleeping 30 s.
  const auto outcome = run_demo("demo.sleep", {30}, {}, [](TaskContext& ctx) { ctx.cancel(); });
  CHECK(std::get<Failed>(outcome).type == "SoftTimeLimitExceeded");
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}

TEST_CASE("demo.fail with rate 1 fails transiently; with rate 0 succeeds") {
  const auto failed = std::get<Failed>(run_demo("demo.fail", {1}));
  CHECK(failed.kind == ErrorKind::Network);
  CHECK(is_transient(TaskError{failed.kind, std::nullopt, failed.message}));
  CHECK(run_demo("demo.fail", {0}) == TaskOutcome{Succeeded{"ok"}});
}
