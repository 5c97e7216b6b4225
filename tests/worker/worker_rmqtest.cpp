// The Worker against the private RabbitMQ and PostgreSQL: a mixed load ends
// with one coherent terminal record per job, retries travel through the delay
// topology, unknown tasks are dead-lettered, and a warm shutdown in the middle
// of the load loses nothing (a second worker finishes the rest).
#include "celeriac/worker/worker.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <httplib.h>

#include "../broker/broker_fixture.hpp"
#include "../store/scratch_schema.hpp"
#include "celeriac/store/job_records.hpp"
#include "celeriac/tasks/demo.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {

struct WorkerSetup {
  std::string queue = test::unique_name("celeriac.test.worker.");
  test::BrokerFixture publisher{{broker::QueueSpec{queue, false, 9}}, true};
  test::ScratchSchema schema{"celeriac_test_worker_"};
  TaskRegistry registry;

  WorkerSetup() {
    tasks::register_demo_tasks(registry);
    registry.add("test.flaky_once", [](TaskContext& ctx) -> nlohmann::json {
      if (ctx.job().retries == 0) throw Retry{1s, "first attempt always fails"};
      return "second time lucky";
    });
    // 1 s then 3 s: the second trip passes the 1 s delay level again.
    registry.add("test.flaky_twice", [](TaskContext& ctx) -> nlohmann::json {
      if (ctx.job().retries == 0) throw Retry{1s, "first"};
      if (ctx.job().retries == 1) throw Retry{3s, "second"};
      return "third time lucky";
    });
  }

  worker::WorkerOptions options(std::size_t concurrency, PoolKind pool = PoolKind::Thread) const {
    worker::WorkerOptions o;
    o.pool = pool;
    o.child_executable = CELERIAC_POOL_CHILD; // demo tasks only
    o.child_arguments = {"--pool-child"};
    o.broker.connection.url = test::required_env("CELERIAC_BROKER_URL");
    o.broker.connection.heartbeat = 10s;
    o.broker.topology.queues = {broker::QueueSpec{queue, false, 9}};
    o.store.database_url = test::database_url();
    o.store.schema = schema.name;
    o.queues = {queue};
    o.concurrency = concurrency;
    o.shutdown_timeout = 30s;
    return o;
  }

  Job job(const std::string& task, nlohmann::json args, int seq) const {
    Job j = test::test_job(queue, seq % 10, seq);
    j.task = task;
    j.args = std::move(args);
    return j;
  }

  long count_workers() {
    return schema.scalar<long>("select count(*) from " + schema.table("workers"));
  }

  // Also turns the publisher's loop, so its connection keeps its heartbeats.
  long count(const std::string& where) {
    uv_run(&publisher.loop, UV_RUN_NOWAIT);
    return schema.scalar<long>("select count(*) from " + schema.table("jobs") + " where " + where);
  }
};

// Runs a Worker on its own thread; run()'s status lands in `status`.
struct RunningWorker {
  worker::Worker worker;
  std::optional<int> status;
  std::atomic<bool> returned{false};
  std::thread thread;
  RunningWorker(worker::WorkerOptions o, const TaskRegistry& r) : worker(std::move(o), r) {
    thread = std::thread([this] {
      status = worker.run();
      returned = true;
    });
  }
  int stop(bool cold = false) {
    worker.shutdown(cold);
    thread.join();
    return status.value_or(-1);
  }
  ~RunningWorker() {
    if (thread.joinable()) stop(true);
  }
};

} // namespace

TEST_CASE("a mixed load ends with one terminal record per job") {
  WorkerSetup s;
  constexpr int kAdds = 2'000, kFlaky = 20, kUnknown = 5;
  std::vector<Job> jobs;
  for (int i = 0; i < kAdds; ++i)
    jobs.push_back(s.job("demo.add", {i, 1}, i));
  for (int i = 0; i < kFlaky; ++i)
    jobs.push_back(s.job("test.flaky_once", nlohmann::json::array(), kAdds + i));
  for (int i = 0; i < kUnknown; ++i)
    jobs.push_back(s.job("no.such.task", nlohmann::json::array(), kAdds + kFlaky + i));
  worker::WorkerOptions options = s.options(4);
  options.http = "127.0.0.1:0";
  RunningWorker w(options, s.registry);
  s.publisher.publish_all(jobs);

  REQUIRE(test::eventually(
      [&] { return s.count("state in ('SUCCESS', 'FAILURE')") == kAdds + kFlaky + kUnknown; }, 120s,
      100ms));
  // What an autoscaler and a probe see.
  REQUIRE(w.worker.http_port() > 0);
  httplib::Client http("127.0.0.1", w.worker.http_port());
  const auto health = http.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  const auto metrics = http.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("celeriac_tasks_total{task=\"demo.add\",state=\"SUCCESS\"} 2000\n") !=
        std::string::npos);
  CHECK(metrics->body.find("celeriac_tasks_total{task=\"test.flaky_once\",state=\"RETRY\"} 20\n") !=
        std::string::npos);
  CHECK(w.stop() == 0);
  CHECK(s.count("task = 'demo.add' and state = 'SUCCESS'"
                " and result = to_jsonb((args->>0)::int + (args->>1)::int)") == kAdds);
  CHECK(s.count("task = 'test.flaky_once' and state = 'SUCCESS' and retries = 1") == kFlaky);
  CHECK(s.count("task = 'no.such.task' and state = 'FAILURE' and error_type = 'UnknownTask'") ==
        kUnknown);
  CHECK(s.count("received_at is null and task <> 'no.such.task'") == 0);
  const auto counters = w.worker.counters();
  CHECK(counters.succeeded == kAdds + kFlaky);
  CHECK(counters.retried == kFlaky);
  CHECK(counters.dead_lettered == kUnknown);
  CHECK(counters.running == 0);

  // The dead letters are in "<queue>.dead", each with its reason.
  std::size_t dead = 0;
  s.publisher.broker->consume({broker::dead_letter_queue(s.queue)}, 50, [&](broker::Delivery&& d) {
    const HeaderValue* reason = d.raw.headers.find("x-celeriac-dead-reason");
    CHECK((reason != nullptr && reason->get_if<std::string>() != nullptr));
    s.publisher.broker->ack(d);
    ++dead;
  });
  CHECK(test::run_until(
      &s.publisher.loop, [&] { return dead == kUnknown; }, 30s));
}

TEST_CASE("a warm shutdown in the middle of the load loses nothing") {
  WorkerSetup s;
  constexpr int kJobs = 300;
  std::vector<Job> jobs;
  for (int i = 0; i < kJobs; ++i)
    jobs.push_back(s.job("demo.sleep", {0.02}, i));
  s.publisher.publish_all(jobs);
  {
    RunningWorker first(s.options(4), s.registry);
    REQUIRE(test::eventually([&] { return s.count("state = 'SUCCESS'") >= 50; }, 60s));
    CHECK(first.stop() == 0);
  }
  const long done_by_first = s.count("state = 'SUCCESS'");
  CHECK(done_by_first < kJobs);
  CHECK(s.count("state = 'STARTED'") == 0); // warm: whatever started, finished
  RunningWorker second(s.options(4), s.registry);
  CHECK(test::eventually([&] { return s.count("state = 'SUCCESS'") == kJobs; }, 120s, 50ms));
  CHECK(second.stop() == 0);
  MESSAGE("the first worker finished " << done_by_first << " of " << kJobs
                                       << " before its warm shutdown");
}

TEST_CASE("with the process pool, a job that crashes its child fails alone; the rest succeed") {
  WorkerSetup s;
  constexpr int kAdds = 500;
  std::vector<Job> jobs;
  for (int i = 0; i < kAdds; ++i)
    jobs.push_back(s.job("demo.add", {i, 2}, i));
  Job crash = s.job("demo.crash", nlohmann::json::array(), kAdds);
  jobs.push_back(crash);
  RunningWorker w(s.options(2, PoolKind::Process), s.registry);
  s.publisher.publish_all(jobs);
  // WorkerLost is transient: demo.crash is retried (3 times by default) and
  // then fails for good, each time killing only the child that ran it.
  REQUIRE(test::eventually([&] { return s.count("state in ('SUCCESS', 'FAILURE')") == kAdds + 1; },
                           120s, 100ms));
  CHECK(w.stop() == 0);
  CHECK(s.count("task = 'demo.add' and state = 'SUCCESS'") == kAdds);
  CHECK(s.count("task = 'demo.crash' and state = 'FAILURE' and error_type = 'WorkerLost'"
                " and retries = 3") == 1);
}

TEST_CASE("a job retried twice through the same delay level comes back both times") {
  // RabbitMQ drops a message that is dead-lettered from a queue its x-death
  // header already lists; a retry must not carry the previous trip's header.
  WorkerSetup s;
  RunningWorker w(s.options(2), s.registry);
  s.publisher.publish_all({s.job("test.flaky_twice", nlohmann::json::array(), 1)});
  CHECK(test::eventually([&] { return s.count("state = 'SUCCESS' and retries = 2") == 1; }, 30s,
                         50ms));
  CHECK(w.stop() == 0);
}

TEST_CASE("revokes reach a running worker through the store; terminate kills the running job") {
  WorkerSetup s;
  RunningWorker w(s.options(2, PoolKind::Process), s.registry);
  // The worker's row appears with its first heartbeat.
  REQUIRE(test::eventually([&] { return s.count_workers() == 1; }, 10s));
  const Job running = s.job("demo.sleep", {60}, 1);
  s.publisher.publish_all({running});
  REQUIRE(test::eventually([&] { return s.count("state = 'STARTED'") == 1; }, 10s));
  store::RevokeRequest request;
  request.terminate = true;
  request.now = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  // Revoked before it is published (so before any worker saw it): never runs.
  const Job later = s.job("demo.add", {1, 1}, 2);
  store::revoke_job(s.schema.conn, s.schema.name, later.id, request);
  store::revoke_job(s.schema.conn, s.schema.name, running.id, request);
  // The worker learns of revokes at its next heartbeat (2 s): the running job
  // ends when its child is killed, and by then `later` is known too.
  REQUIRE(test::eventually([&] { return w.worker.counters().revoked == 1; }, 20s));
  s.publisher.publish_all({later});
  CHECK(test::eventually([&] { return s.count("state = 'REVOKED'") == 2; }, 20s));
  CHECK(s.count("state = 'REVOKED' and started_at is not null") == 1);
  CHECK(s.count("state = 'SUCCESS'") == 0);
  CHECK(w.stop() == 0);
  CHECK(s.count_workers() == 0); // a worker that stops removes its row
}

TEST_CASE("priority order holds under prefetch = pool size: a high job waits for one running job") {
  // One slot, three queues, each with its own prefetch window of one: while a
  // low job runs, a default and then a high job arrive and wait in the worker.
  // The high one must run next, though the default one came first.
  WorkerSetup s;
  const std::string high = test::unique_name("celeriac.test.high."),
                    normal = test::unique_name("celeriac.test.default."),
                    low = test::unique_name("celeriac.test.low.");
  std::vector<broker::QueueSpec> specs;
  for (const auto& name : {high, normal, low})
    specs.push_back(broker::QueueSpec{name, false, 9});
  test::BrokerFixture publisher{specs, true};
  std::mutex mutex;
  std::condition_variable released;
  bool release = false;
  std::vector<std::string> started;
  auto note = [&](const std::string& what) {
    std::lock_guard lock(mutex);
    started.push_back(what);
  };
  s.registry.add("test.block", [&](TaskContext&) -> nlohmann::json {
    note("block");
    std::unique_lock lock(mutex);
    released.wait(lock, [&] { return release; });
    return nullptr;
  });
  s.registry.add("test.note", [&](TaskContext& ctx) -> nlohmann::json {
    note(ctx.args().at(0).get<std::string>());
    return nullptr;
  });
  worker::WorkerOptions options = s.options(1);
  options.broker.topology.queues = specs;
  options.queues = {high, normal, low};
  RunningWorker w(options, s.registry);

  auto job_on = [&](const std::string& queue, const std::string& task, nlohmann::json args,
                    int seq) {
    Job j = test::test_job(queue, 0, seq);
    j.task = task;
    j.args = std::move(args);
    return j;
  };
  publisher.publish_all({job_on(low, "test.block", nlohmann::json::array(), 1)});
  REQUIRE(test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return !started.empty();
      },
      30s, 10ms));
  publisher.publish_all({job_on(normal, "test.note", {"default"}, 2)});
  REQUIRE(test::eventually([&] { return w.worker.counters().waiting == 1; }, 30s, 10ms));
  publisher.publish_all({job_on(high, "test.note", {"high"}, 3)});
  REQUIRE(test::eventually([&] { return w.worker.counters().waiting == 2; }, 30s, 10ms));
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  released.notify_all();
  REQUIRE(test::eventually([&] { return s.count("state = 'SUCCESS'") == 3; }, 30s, 50ms));
  CHECK(w.stop() == 0);
  std::lock_guard lock(mutex);
  CHECK(started == std::vector<std::string>{"block", "high", "default"});
}

TEST_CASE("a thread pool half stuck past hard limits drains and exits with its own code") {
  WorkerSetup s;
  RunningWorker w(s.options(2, PoolKind::Thread), s.registry);
  for (int i = 0; i < 2; ++i) {
    Job spin = s.job("demo.spin", {3}, i); // ignores cancellation: its thread is abandoned
    spin.hard_time_limit = 200ms;
    s.publisher.publish_all({spin});
  }
  REQUIRE(test::eventually([&] { return w.returned.load(); }, 60s, 50ms));
  w.thread.join();
  CHECK(w.status == worker::Worker::kExitStuck);
  CHECK(s.count("task = 'demo.spin' and error_type = 'TimeLimitExceeded'") == 2);
}
