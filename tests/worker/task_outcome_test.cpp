// The task API's pure core: the registry, what each way out of a task becomes
// (run_task), the JSON that carries an outcome over a pool pipe, and the plan
// the worker follows for each outcome.
#include "celeriac/worker/task_outcome.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include "celeriac/core/error.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

Job job_with_retries(int retries) {
  Job job;
  job.task = "jira.sync_issue";
  job.queue = "default";
  job.retries = retries;
  return job;
}

TaskOutcome run(const TaskFunction& fn) {
  TaskRegistry registry;
  registry.add("t.run", fn);
  const Job job = job_with_retries(0);
  TaskContext context(job);
  return run_task(*registry.find("t.run"), context);
}

const UniformRandom kHalf = [] { return 0.5; };

RetryPolicy no_jitter(int max_retries = 3) {
  RetryPolicy policy;
  policy.max_retries = max_retries;
  policy.backoff = FixedBackoff{10s};
  policy.jitter = Jitter::None;
  return policy;
}

} // namespace

TEST_CASE("the registry refuses bad names, a missing function and duplicates") {
  TaskRegistry registry;
  registry.add("demo.add", [](TaskContext&) { return nlohmann::json(1); });
  CHECK(registry.find("demo.add") != nullptr);
  CHECK(registry.find("demo.nope") == nullptr);
  CHECK_THROWS_AS(registry.add("demo.add", [](TaskContext&) { return nlohmann::json(); }),
                  InvalidInput);
  CHECK_THROWS_AS(registry.add("has space", [](TaskContext&) { return nlohmann::json(); }),
                  InvalidInput);
  CHECK_THROWS_AS(registry.add("demo.empty", TaskFunction{}), InvalidInput);
  CHECK(registry.names() == std::vector<std::string>{"demo.add"});
}

TEST_CASE("each way out of a task becomes its outcome") {
  CHECK(run([](TaskContext&) {
          return nlohmann::json{{"ok", 1}};
        }) == TaskOutcome{Succeeded{{{"ok", 1}}}});
  CHECK(run([](TaskContext&) -> nlohmann::json {
          throw Retry{5s, "429"};
        }) == TaskOutcome{RetryRequested{5s, "429"}});
  CHECK(run([](TaskContext&) -> nlohmann::json { throw Reject{"bad issue key"}; }) ==
        TaskOutcome{Rejected{"bad issue key"}});
  const auto transient = run([](TaskContext&) -> nlohmann::json {
    throw TaskFailure(ErrorKind::Http, "jira 503", 503, 30s);
  });
  CHECK(transient == TaskOutcome{Failed{"TaskFailure", ErrorKind::Http, "jira 503", 503, 30s}});
  const auto plain = std::get<Failed>(run([](TaskContext& ctx) -> nlohmann::json {
    return ctx.args().at(7); // out of range
  }));
  CHECK(plain.kind == ErrorKind::Unclassified);
  CHECK(plain.type.find("nlohmann") != std::string::npos);
  const auto odd = std::get<Failed>(run([](TaskContext&) -> nlohmann::json { throw 42; }));
  CHECK(odd.type == "int");
}

TEST_CASE("checkpoint throws once the context is cancelled, and that is a timeout") {
  const auto outcome = run([](TaskContext& ctx) -> nlohmann::json {
    ctx.checkpoint(); // not yet
    ctx.cancel();
    CHECK(ctx.cancelled());
    ctx.checkpoint();
    return nullptr;
  });
  const auto failed = std::get<Failed>(outcome);
  CHECK(failed.type == "SoftTimeLimitExceeded");
  CHECK(failed.kind == ErrorKind::Timeout);
}

TEST_CASE("outcomes survive the pipe's JSON, and a broken frame is a DecodeError") {
  for (const TaskOutcome& o :
       {TaskOutcome{Succeeded{{1, 2}}}, TaskOutcome{RetryRequested{1500ms, "later"}},
        TaskOutcome{RetryRequested{std::nullopt, "policy"}}, TaskOutcome{Rejected{"no"}},
        TaskOutcome{Failed{"X", ErrorKind::Network, "down", std::nullopt, 2s}},
        TaskOutcome{Failed{"Y", ErrorKind::Http, "429", 429, std::nullopt}}}) {
    CHECK(outcome_from_json(to_json(o)) == o);
  }
  CHECK_THROWS_AS(outcome_from_json({{"outcome", "maybe"}}), DecodeError);
  CHECK_THROWS_AS(outcome_from_json({{"outcome", "retry"}}), DecodeError);
  CHECK_THROWS_AS(outcome_from_json(nlohmann::json::array()), DecodeError);
}

TEST_CASE("plans: success, retry with the policy or the task's delay, and failures dead-lettered") {
  const RetryPolicy policy = no_jitter();
  const OutcomePlan ok = plan_outcome(job_with_retries(0), Succeeded{7}, policy, kHalf);
  CHECK(ok.state == JobState::Success);
  CHECK(ok.result == nlohmann::json(7));
  CHECK_FALSE(ok.dead_letter);

  const OutcomePlan transient =
      plan_outcome(job_with_retries(1), Failed{"TaskFailure", ErrorKind::Network, "down", {}, {}},
                   policy, kHalf);
  CHECK(transient.state == JobState::Retry);
  CHECK(transient.retry_delay == Duration(10s));
  CHECK(transient.error_message == "down");

  const OutcomePlan hinted =
      plan_outcome(job_with_retries(0), RetryRequested{42s, "rate limited"}, policy, kHalf);
  CHECK(hinted.state == JobState::Retry);
  CHECK(hinted.retry_delay == Duration(42s));

  const OutcomePlan exhausted =
      plan_outcome(job_with_retries(3), Failed{"TaskFailure", ErrorKind::Network, "down", {}, {}},
                   policy, kHalf);
  CHECK(exhausted.state == JobState::Failure);
  CHECK(exhausted.dead_letter);
  CHECK(exhausted.error_message.find("down") == 0);

  const OutcomePlan permanent = plan_outcome(
      job_with_retries(0), Failed{"X", ErrorKind::Validation, "bad key", {}, {}}, policy, kHalf);
  CHECK(permanent.state == JobState::Failure);
  CHECK(permanent.dead_letter);

  const OutcomePlan rejected = plan_outcome(job_with_retries(0), Rejected{"never"}, policy, kHalf);
  CHECK(rejected.state == JobState::Failure);
  CHECK(rejected.error_type == "Reject");
  CHECK(rejected.dead_letter);
}

TEST_CASE("a task's log lines name its task and job") {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(8);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", ring));
  Job job;
  job.id = *JobId::parse("8f2939de-b4c7-4c6c-9e95-26de686d15d9");
  job.task = "jira.sync_issue";
  TaskContext ctx(job);
  ctx.log(spdlog::level::warn, "page {} of {}", 2, 5);
  spdlog::set_default_logger(previous);
  const auto lines = ring->last_formatted();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("[warning]") != std::string::npos);
  CHECK(lines[0].find("task jira.sync_issue [8f2939de-b4c7-4c6c-9e95-26de686d15d9]: page 2 of 5") !=
        std::string::npos);
}
