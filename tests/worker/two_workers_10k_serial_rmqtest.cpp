// Two Workers against the private RabbitMQ and PostgreSQL (issue 6, "Checked
// by"): 10,000 mixed jobs on three queues end with one coherent terminal
// record each. One worker runs a process pool on high, default and low; the
// other a thread pool on high and default only, because demo.crash, routed to
// low, would kill a thread pool's whole process. Heavy, so `_serial_`: it runs
// alone.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <optional>
#include <thread>

#include "../broker/broker_fixture.hpp"
#include "../store/scratch_schema.hpp"
#include "celeriac/tasks/demo.hpp"
#include "celeriac/worker/worker.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {

// The workload, by kind; adds take whatever the others leave of kTotal.
constexpr int kTotal = 10'000;
constexpr int kFlaky = 300;     // demo.fail(0.5): retries, then SUCCESS or FAILURE
constexpr int kDoomed = 50;     // demo.fail(1.0): FAILURE after max_retries
constexpr int kSleeps = 200;    // demo.sleep(0.02)
constexpr int kBadArgs = 30;    // demo.add("x", 1): permanent, no retry
constexpr int kCrashes = 3;     // demo.crash, on low: WorkerLost after max_retries
constexpr int kUnknown = 10;    // no such task
constexpr int kKwargAdds = 100; // demo.add(a=, b=)
constexpr int kAdds = kTotal - kFlaky - kDoomed - kSleeps - kBadArgs - kCrashes - kUnknown;
constexpr int kMaxRetries = 3;

// Retries after 1 s exactly: one trip through the first delay level.
RetryPolicy quick_retries() {
  RetryPolicy policy;
  policy.max_retries = kMaxRetries;
  policy.backoff = FixedBackoff{1s};
  policy.jitter = Jitter::None;
  return policy;
}

// The demo tasks with a quick retry policy; the process pool's children run
// the same functions from their own registry (pool_child_main.cpp).
TaskRegistry demo_registry() {
  TaskRegistry demo;
  tasks::register_demo_tasks(demo);
  TaskRegistry registry;
  TaskDefaults defaults;
  defaults.retry = quick_retries();
  for (const auto& name : demo.names())
    registry.add(name, demo.find(name)->run, defaults);
  return registry;
}

struct Setup {
  std::array<std::string, 3> queues{test::unique_name("celeriac.test.10k.high."),
                                    test::unique_name("celeriac.test.10k.default."),
                                    test::unique_name("celeriac.test.10k.low.")};
  test::BrokerFixture publisher{specs(), true};
  test::ScratchSchema schema{"celeriac_test_10k_"};
  TaskRegistry registry = demo_registry();

  std::vector<broker::QueueSpec> specs() const {
    std::vector<broker::QueueSpec> s;
    for (const auto& q : queues)
      s.push_back(broker::QueueSpec{q, false, 9});
    return s;
  }

  worker::WorkerOptions options(PoolKind pool, std::vector<std::string> consumed,
                                std::string name) const {
    worker::WorkerOptions o;
    o.pool = pool;
    o.child_executable = CELERIAC_POOL_CHILD;
    o.child_arguments = {"--pool-child"};
    o.broker.connection.url = test::required_env("CELERIAC_BROKER_URL");
    o.broker.connection.heartbeat = 10s;
    o.broker.topology.queues = specs();
    o.store.database_url = test::database_url();
    o.store.schema = schema.name;
    o.queues = std::move(consumed);
    o.concurrency = 2;
    o.shutdown_timeout = 30s;
    o.name = std::move(name);
    return o;
  }

  // Also turns the publisher's loop, so its connection keeps its heartbeats.
  long count(const std::string& where) {
    uv_run(&publisher.loop, UV_RUN_NOWAIT);
    return schema.scalar<long>("select count(*) from " + schema.table("jobs") + " where " + where);
  }

  // Messages waiting in QUEUE, by a passive declare on the publisher's admin channel.
  std::uint32_t depth(const std::string& queue) {
    auto* ok =
        amqp_queue_declare(publisher.broker->connection().native(), broker::Broker::kAdminChannel,
                           amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
    publisher.broker->connection().check_reply(broker::Broker::kAdminChannel, "queue.declare");
    return ok->message_count;
  }
};

// Runs a Worker on its own thread; run()'s status lands in `status`.
struct RunningWorker {
  worker::Worker worker;
  std::optional<int> status;
  std::thread thread;
  RunningWorker(worker::WorkerOptions o, const TaskRegistry& r) : worker(std::move(o), r) {
    thread = std::thread([this] { status = worker.run(); });
  }
  int stop() {
    worker.shutdown(false);
    thread.join();
    return status.value_or(-1);
  }
  ~RunningWorker() {
    if (thread.joinable()) {
      worker.shutdown(true);
      thread.join();
    }
  }
};

// The workload, interleaved so every kind meets both workers and every queue.
std::vector<Job> workload(const std::array<std::string, 3>& queues) {
  std::vector<Job> jobs;
  int seq = 0;
  auto add = [&](const std::string& task, nlohmann::json args, const std::string& queue) {
    Job j = test::test_job(queue, seq % 10, seq);
    j.task = task;
    j.args = std::move(args);
    jobs.push_back(std::move(j));
    ++seq;
  };
  auto queue_for = [&] { return queues[static_cast<std::size_t>(seq % 3)]; };
  for (int i = 0; i < kAdds; ++i) {
    if (i < kKwargAdds) {
      add("demo.add", nlohmann::json::array(), queue_for());
      jobs.back().kwargs = {{"a", i}, {"b", 7}};
    } else {
      add("demo.add", {i, seq % 13}, queue_for());
    }
    if (i < kFlaky) add("demo.fail", {0.5}, queue_for());
    if (i < kDoomed) add("demo.fail", {1.0}, queue_for());
    if (i < kSleeps) add("demo.sleep", {0.02}, queue_for());
    if (i < kBadArgs) add("demo.add", {"x", 1}, queue_for());
    if (i < kCrashes) add("demo.crash", nlohmann::json::array(), queues[2]);
    if (i < kUnknown) add("no.such.task", nlohmann::json::array(), queue_for());
  }
  return jobs;
}

} // namespace

TEST_CASE("10,000 mixed jobs with two workers end with one coherent terminal record each") {
  Setup s;
  const auto started = std::chrono::steady_clock::now();
  const std::vector<Job> jobs = workload(s.queues);
  REQUIRE(jobs.size() == kTotal);

  RunningWorker processes(
      s.options(PoolKind::Process, {s.queues.begin(), s.queues.end()}, "test-10k-process:1"),
      s.registry);
  RunningWorker threads(
      s.options(PoolKind::Thread, {s.queues[0], s.queues[1]}, "test-10k-thread:2"), s.registry);
  s.publisher.publish_all(jobs);
  const auto published = std::chrono::steady_clock::now();

  REQUIRE(test::eventually(
      [&] { return s.count("state in ('SUCCESS', 'FAILURE', 'REVOKED')") == kTotal; }, 240s,
      200ms));
  const auto finished = std::chrono::steady_clock::now();
  CHECK(processes.stop() == 0);
  CHECK(threads.stop() == 0);

  // One record per job, every one terminal: nothing left RECEIVED, STARTED or RETRY.
  CHECK(s.count("true") == kTotal);
  CHECK(s.count("state not in ('SUCCESS', 'FAILURE')") == 0);
  CHECK(s.count("finished_at is null") == 0);

  // Additions are right, by position and by name.
  CHECK(s.count("task = 'demo.add' and state = 'SUCCESS' and jsonb_array_length(args) = 2"
                " and result = to_jsonb((args->>0)::int + (args->>1)::int)") == kAdds - kKwargAdds);
  CHECK(s.count("task = 'demo.add' and state = 'SUCCESS' and jsonb_array_length(args) = 0"
                " and result = to_jsonb((kwargs->>'a')::int + (kwargs->>'b')::int)") == kKwargAdds);
  CHECK(s.count("task = 'demo.sleep' and state = 'SUCCESS'") == kSleeps);
  // A permanent error does not retry.
  CHECK(s.count("task = 'demo.add' and state = 'FAILURE' and retries = 0"
                " and error_type like '%InvalidInput'") == kBadArgs);

  // demo.fail(0.5) retried: some made it, and those that did not used every retry.
  const long flaky_ok = s.count(
      "task = 'demo.fail' and args = '[0.5]' and state = 'SUCCESS'"
      " and retries between 0 and 3 and result = '\"ok\"'");
  const long flaky_failed = s.count(
      "task = 'demo.fail' and args = '[0.5]' and state = 'FAILURE'"
      " and retries = 3 and error_type = 'TaskFailure'");
  CHECK(flaky_ok + flaky_failed == kFlaky);
  CHECK(flaky_ok > 0);
  CHECK(s.count("task = 'demo.fail' and args = '[0.5]' and retries > 0") > 0);
  CHECK(s.count("task = 'demo.fail' and args = '[1.0]' and state = 'FAILURE' and retries = 3"
                " and error_type = 'TaskFailure'") == kDoomed);
  CHECK(s.count("task = 'demo.crash' and state = 'FAILURE' and retries = 3"
                " and error_type = 'WorkerLost'") == kCrashes);
  CHECK(s.count("task = 'no.such.task' and state = 'FAILURE' and error_type = 'UnknownTask'") ==
        kUnknown);

  // Attempts are coherent: each attempt was delivered once (nothing was
  // redelivered), and its steps are in order.
  const std::string ran = "task <> 'no.such.task'";
  CHECK(s.count(ran + " and deliveries <> retries + 1") == 0);
  CHECK(s.count(ran + " and not (received_at <= started_at and started_at <= finished_at)") == 0);
  CHECK(s.count(ran + " and (max_retries is distinct from 3)") == 0);
  // Both workers took jobs, and only the process pool took those on low.
  CHECK(s.count("worker = 'test-10k-process:1' and state = 'SUCCESS'") > 0);
  CHECK(s.count("worker = 'test-10k-thread:2' and state = 'SUCCESS'") > 0);
  CHECK(s.count("worker = 'test-10k-thread:2' and queue = '" + s.queues[2] + "'") == 0);

  // Every FAILURE is in a dead-letter queue, once; the job queues are empty.
  const long failures = s.count("state = 'FAILURE'");
  long dead = 0;
  for (const auto& q : s.queues) {
    CHECK(s.depth(q) == 0);
    dead += s.depth(broker::dead_letter_queue(q));
  }
  CHECK(dead == failures);
  const auto a = processes.worker.counters();
  const auto b = threads.worker.counters();
  CHECK(a.succeeded + b.succeeded == static_cast<std::uint64_t>(s.count("state = 'SUCCESS'")));
  CHECK(a.dead_lettered + b.dead_lettered == static_cast<std::uint64_t>(failures));
  CHECK(a.running + b.running == 0);

  auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
  MESSAGE("published in " << seconds(published - started) << " s, all terminal after "
                          << seconds(finished - started) << " s; " << flaky_ok << " of " << kFlaky
                          << " flaky jobs succeeded; process pool " << a.succeeded
                          << " successes, thread pool " << b.succeeded);
}
