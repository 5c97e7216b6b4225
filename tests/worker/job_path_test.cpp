// The job path on the FakeBroker, with a recorder and a runner the test
// drives: what is recorded, what is published, and that a delivery is acked
// only after its record committed and its follow-up message was confirmed.
#include "celeriac/worker/job_path.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <map>

#include "celeriac/broker/fake_broker.hpp"
#include "celeriac/tasks/demo.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;

namespace {

const Timestamp kStart = Timestamp{} + std::chrono::seconds(1'800'000'000);

// Keeps every change; commits when the test says (or at once when `instant`).
struct TestRecorder : StateRecorder {
  bool instant = true;
  bool fail = false;
  std::vector<store::JobChange> changes;
  std::deque<std::function<void()>> waiting;
  std::map<JobId, int> received; // what the store's deliveries column would count
  void record(store::JobChange change, store::WriteCallback done) override {
    if (change.state == JobState::Received || change.received_at) ++received[change.id];
    const int deliveries = received[change.id];
    changes.push_back(std::move(change));
    if (!done) return;
    if (instant)
      done(store::WriteOutcome{!fail, fail ? "refused" : "", deliveries});
    else
      waiting.push_back([done, deliveries] { done(store::WriteOutcome{true, "", deliveries}); });
  }
  void commit_all() {
    while (!waiting.empty()) {
      auto commit = std::move(waiting.front());
      waiting.pop_front();
      commit();
    }
  }
  std::vector<JobState> states() const {
    std::vector<JobState> out;
    for (const auto& c : changes)
      out.push_back(c.state);
    return out;
  }
};

// Runs the task in-process when the test calls run_pending().
struct TestRunner : TaskRunner {
  std::deque<std::function<void()>> pending;
  void run(const Job& job, const TaskDefinition& definition,
           std::function<void(TaskOutcome)> done) override {
    pending.push_back([job, &definition, done = std::move(done)] {
      TaskContext context(job);
      done(run_task(definition, context));
    });
  }
  void run_pending() {
    while (!pending.empty()) {
      auto next = std::move(pending.front());
      pending.pop_front();
      next();
    }
  }
};

struct PathFixture {
  broker::FakeBroker broker{kStart};
  TestRecorder recorder;
  TestRunner runner;
  TaskRegistry registry;
  std::vector<std::pair<Duration, std::function<void()>>> deferred;
  std::unique_ptr<JobPath> path;
  std::vector<broker::Delivery> dead;
  std::optional<broker::Delivery> last; // the latest delivery to the job path

  explicit PathFixture(std::size_t slots = 0) {
    broker.declare_queue("default");
    broker.declare_queue("default.dead");
    tasks::register_demo_tasks(registry);
    TaskDefaults flaky;
    flaky.retry.max_retries = 2;
    flaky.retry.backoff = FixedBackoff{10s};
    flaky.retry.jitter = Jitter::None;
    registry.add(
        "test.flaky",
        [](TaskContext&) -> nlohmann::json {
          throw TaskFailure(ErrorKind::Network, "jira unreachable");
        },
        flaky);
    JobPathOptions options;
    options.worker_name = "test-host:1";
    options.slots = slots;
    options.clock = [this] { return broker.now(); };
    options.random = [] { return 0.5; };
    options.defer = [this](Duration d, std::function<void()> fn) {
      deferred.emplace_back(d, std::move(fn));
    };
    path = std::make_unique<JobPath>(broker, recorder, runner, registry, options);
    broker.consume({"default"}, 10, [this](broker::Delivery&& d) {
      last = d;
      path->handle(std::move(d));
    });
    broker.consume({"default.dead"}, 100, [this](broker::Delivery&& d) {
      broker.ack(d);
      dead.push_back(std::move(d));
    });
  }

  Job enqueue(const std::string& task, nlohmann::json args = nlohmann::json::array()) {
    Job job;
    JobId::Bytes bytes{};
    bytes[0] = static_cast<std::uint8_t>(next_id++);
    job.id = JobId::v4(bytes);
    job.task = task;
    job.queue = "default";
    job.args = std::move(args);
    return job;
  }
  void publish(const Job& job) {
    broker.publish(job, [](const broker::PublishResult& r) {
      REQUIRE(r.status == broker::PublishStatus::Confirmed);
    });
  }
  // Runs broker and runner until neither has anything left.
  void settle() {
    do
      broker.run();
    while (!runner.pending.empty() && (runner.run_pending(), true));
    broker.run();
  }
  std::string dead_reason(std::size_t i) const {
    const HeaderValue* reason = dead.at(i).raw.headers.find("x-celeriac-dead-reason");
    return reason && reason->get_if<std::string>() ? *reason->get_if<std::string>() : "";
  }
  int next_id = 1;
};

} // namespace

TEST_CASE("a job that succeeds is received and started (one change), recorded SUCCESS, acked") {
  PathFixture f;
  f.publish(f.enqueue("demo.add", {2, 3}));
  f.settle();
  CHECK(f.recorder.states() == std::vector<JobState>{JobState::Started, JobState::Success});
  CHECK(f.recorder.changes.back().result == nlohmann::json(5));
  CHECK(f.recorder.changes.front().job.has_value());         // it carries the description
  CHECK(f.recorder.changes.front().received_at.has_value()); // and counts as the delivery
  CHECK(f.recorder.changes.back().worker == "test-host:1");
  CHECK(f.broker.unacked("default") == 0);
  CHECK(f.broker.depth("default") == 0);
  CHECK(f.path->counters().succeeded == 1);
}

TEST_CASE("the ack waits for the commit of the outcome") {
  PathFixture f;
  f.recorder.instant = false;
  f.publish(f.enqueue("demo.add", {1, 1}));
  f.settle();
  CHECK(f.broker.unacked("default") == 1);
  f.recorder.commit_all();
  f.broker.run();
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("a record the store refuses sends the job back instead of acking it") {
  PathFixture f;
  f.recorder.fail = true;
  f.publish(f.enqueue("demo.add", {1, 1}));
  f.broker.run();
  f.runner.run_pending(); // first attempt: its SUCCESS record fails
  f.recorder.fail = false;
  f.settle(); // redelivered, runs again, recorded
  CHECK(f.path->counters().requeued == 1);
  CHECK(f.path->counters().succeeded == 2);
  CHECK(f.broker.unacked("default") == 0);
  CHECK(f.broker.depth("default") == 0);
}

TEST_CASE("a transient failure retries after the policy's delay, then is dead-lettered") {
  PathFixture f;
  f.publish(f.enqueue("test.flaky"));
  f.settle();
  CHECK(f.recorder.states().back() == JobState::Retry);
  CHECK(f.broker.unacked("default") == 0); // acked once the retry message was confirmed
  CHECK(f.broker.delayed() == 1);
  f.broker.advance(10s);
  f.settle();
  CHECK(f.recorder.changes.back().state == JobState::Retry);
  CHECK(f.recorder.changes.back().retries == 1);
  f.broker.advance(10s);
  f.settle();
  CHECK(f.recorder.changes.back().state == JobState::Failure);
  CHECK(f.recorder.changes.back().retries == 2);
  REQUIRE(f.dead.size() == 1);
  CHECK(f.dead_reason(0).find("jira unreachable") != std::string::npos);
  CHECK(f.broker.depth("default") == 0);
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("an unknown task is recorded FAILURE and dead-lettered with the reason") {
  PathFixture f;
  f.publish(f.enqueue("no.such.task"));
  f.settle();
  REQUIRE(f.recorder.changes.size() == 1);
  CHECK(f.recorder.changes[0].state == JobState::Failure);
  CHECK(f.recorder.changes[0].error->type == "UnknownTask");
  REQUIRE(f.dead.size() == 1);
  CHECK(f.dead_reason(0) == "unknown task 'no.such.task'");
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("an undecodable message is dead-lettered with the codec's reason") {
  PathFixture f;
  broker::Outgoing garbage;
  garbage.routing_key = "default";
  garbage.message.body = "{not json";
  garbage.message.headers.set("id", HeaderValue("0b9f7c4e-6a57-4c36-a1a6-52a6b7dbb0a1"));
  garbage.message.headers.set("task", HeaderValue("demo.add"));
  garbage.done = [](const broker::PublishResult&) {};
  f.broker.publish(std::move(garbage));
  f.settle();
  REQUIRE(f.dead.size() == 1);
  CHECK(f.dead_reason(0).find("undecodable message") == 0);
  CHECK(f.dead[0].raw.body == "{not json"); // the raw bytes, kept
  REQUIRE(f.recorder.changes.size() == 1);  // its id was readable
  CHECK(f.recorder.changes[0].error->type == "DecodeError");
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("expired and revoked jobs are recorded REVOKED and never run") {
  PathFixture f;
  Job expired = f.enqueue("demo.add", {1, 2});
  expired.expires = kStart + 5s;
  f.broker.advance(6s);
  f.publish(expired);
  Job revoked = f.enqueue("demo.add", {1, 2});
  f.path->revoke(revoked.id);
  f.publish(revoked);
  f.settle();
  CHECK(f.recorder.states() == std::vector<JobState>{JobState::Revoked, JobState::Revoked});
  CHECK(f.recorder.changes[0].error->type == "Expired");
  CHECK(f.recorder.changes[1].error->type == "Revoked");
  CHECK(f.path->counters().received == 0);
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("a future eta goes back to the delay topology; a near one waits on a local timer") {
  PathFixture f;
  Job later = f.enqueue("demo.add", {1, 2});
  later.eta = kStart + 30s;
  Job soon = f.enqueue("demo.add", {3, 4});
  soon.eta = kStart + 400ms;
  f.publish(later);
  f.publish(soon);
  f.settle();
  CHECK(f.broker.delayed() == 1);
  REQUIRE(f.deferred.size() == 1);
  CHECK(f.deferred[0].first == Duration(400ms));
  CHECK(f.broker.unacked("default") == 1); // the near one is held, not acked
  f.broker.advance(1s);
  f.deferred[0].second();
  f.settle();
  CHECK(f.path->counters().succeeded == 1);
  f.broker.advance(30s);
  f.settle();
  CHECK(f.path->counters().succeeded == 2);
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("a job whose worker keeps dying is failed as WorkerLost past max_redeliveries") {
  PathFixture f; // the demo tasks keep the default max_redeliveries, 3
  f.publish(f.enqueue("demo.add", {1, 2}));
  // Four deliveries (the first and three redeliveries) each start the task,
  // and each time its worker "dies": the outcome never comes and the broker
  // requeues the message, as it does when a connection drops.
  for (int delivery = 1; delivery <= 4; ++delivery) {
    f.broker.run();
    REQUIRE(f.runner.pending.size() == 1);
    f.runner.pending.clear();
    REQUIRE(f.last.has_value());
    CHECK(f.last->redelivered == (delivery > 1));
    f.broker.reject(*f.last, true);
  }
  f.broker.run(); // the fifth: one redelivery too many
  CHECK(f.runner.pending.empty());
  CHECK(f.recorder.changes.back().state == JobState::Failure);
  CHECK(f.recorder.changes.back().error->type == "WorkerLost");
  REQUIRE(f.dead.size() == 1);
  CHECK(f.dead_reason(0).find("WorkerLost") == 0);
  CHECK(f.broker.unacked("default") == 0);
  CHECK(f.broker.depth("default") == 0);
}

TEST_CASE("a retry due within a second is held by its eta on a local timer, then runs") {
  PathFixture f;
  f.registry.add("test.soon", [](TaskContext& ctx) -> nlohmann::json {
    if (ctx.job().retries == 0) throw Retry{300ms, "again shortly"};
    return "done";
  });
  f.publish(f.enqueue("test.soon"));
  f.settle();
  REQUIRE(f.deferred.size() == 1); // the retry waits for its eta, not in the broker
  CHECK(f.deferred[0].first <= Duration(300ms));
  f.broker.advance(1s);
  f.deferred[0].second();
  f.settle();
  CHECK(f.recorder.changes.back().state == JobState::Success);
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("a rate-limited task is held on a timer per slot; other tasks run meanwhile") {
  PathFixture f;
  f.path->set_rate_limit("demo.add", RateLimit{4, 1s}); // one start every 250 ms
  for (int i = 0; i < 3; ++i)
    f.publish(f.enqueue("demo.add", {i, 1}));
  f.publish(f.enqueue("demo.sleep", {0}));
  f.settle();
  CHECK(f.path->counters().succeeded == 2); // the first add, and the sleep: not limited
  CHECK(f.path->counters().rate_limited == 2);
  REQUIRE(f.deferred.size() == 2);
  CHECK(f.deferred[0].first == 250ms);
  CHECK(f.deferred[1].first == 500ms);
  CHECK(f.broker.unacked("default") == 2); // held: still ours, unacked
  for (auto& [delay, fn] : f.deferred)
    fn();
  f.settle();
  CHECK(f.path->counters().succeeded == 4);
  CHECK(f.broker.unacked("default") == 0);
}

TEST_CASE("a rate-limit wait of a second or more goes back to the delay levels, unreserved") {
  PathFixture f;
  f.path->set_rate_limit("demo.add", RateLimit{1, 10s}); // one start every 10 s
  f.publish(f.enqueue("demo.add", {1, 1}));
  f.publish(f.enqueue("demo.add", {2, 2}));
  f.settle();
  CHECK(f.path->counters().succeeded == 1);
  CHECK(f.deferred.empty());               // nothing held in memory
  CHECK(f.broker.delayed() == 1);          // the second waits in the broker
  CHECK(f.broker.unacked("default") == 0); // acked once that publish was confirmed
  f.broker.advance(10s);
  f.settle();
  CHECK(f.path->counters().succeeded == 2);
  CHECK(f.recorder.states().size() == 4); // STARTED (received), SUCCESS each: never twice
}

TEST_CASE("once stopping, held and new deliveries go back to their queue unstarted") {
  PathFixture f;
  f.path->set_rate_limit("demo.add", RateLimit{2, 1s});
  f.publish(f.enqueue("demo.add", {1, 1}));
  f.publish(f.enqueue("demo.add", {2, 2}));
  f.settle();
  REQUIRE(f.deferred.size() == 1);
  f.path->stop_starting();
  f.deferred[0].second(); // its slot comes: it goes back instead of starting
  CHECK(f.path->counters().succeeded == 1);
  CHECK(f.path->counters().requeued == 1);
  CHECK(f.broker.unacked("default") == 0);
  CHECK(f.broker.depth("default") == 1);  // (the worker cancels its consumers: no redelivery loop)
  CHECK(f.recorder.states().size() == 2); // STARTED (received), SUCCESS of the first only
}

TEST_CASE(
    "past the pool's slots, the highest priority waiting job runs next; a stop requeues them") {
  PathFixture f(1);
  f.publish(f.enqueue("demo.add", {1, 0}));
  f.broker.run(); // runs: the one slot is taken
  f.publish(f.enqueue("demo.add", {2, 0}));
  f.broker.run(); // waits
  Job high = f.enqueue("demo.add", {3, 0});
  high.priority = 9;
  f.publish(high);
  f.publish(f.enqueue("demo.add", {4, 0}));
  f.broker.run(); // both wait, the high one behind a low one that came first
  CHECK(f.path->counters().running == 1);
  CHECK(f.path->counters().waiting == 3);
  f.settle();
  std::vector<nlohmann::json> results;
  for (const auto& c : f.recorder.changes)
    if (c.state == JobState::Success) results.push_back(*c.result);
  CHECK(results == std::vector<nlohmann::json>{1, 3, 2, 4});

  PathFixture g(1);
  for (int i = 0; i < 3; ++i)
    g.publish(g.enqueue("demo.add", {i, 0}));
  g.broker.run();
  REQUIRE(g.path->counters().waiting == 2);
  g.path->stop_starting();
  CHECK(g.path->counters().waiting == 0);
  CHECK(g.path->counters().requeued == 2);
  CHECK(g.broker.depth("default") == 2);
  g.runner.run_pending(); // the running one still finishes (the worker cancelled its consumers:
  CHECK(g.path->counters().succeeded == 1); // no broker.run(), which would deliver them again)
}
