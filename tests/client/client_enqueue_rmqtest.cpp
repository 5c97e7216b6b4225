// Client::enqueue and enqueue_many against the private RabbitMQ and
// PostgreSQL: confirmed messages in the queue, PENDING rows committed first,
// pipelining, delays, bad input that publishes nothing, many threads at once,
// an unreachable broker.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "client_fixture.hpp"

namespace {

using celeriac::Client;
using celeriac::EnqueueOptions;
using celeriac::EnqueueRequest;
using celeriac::JobId;
using celeriac::JobState;
using celeriac::test::ClientFixture;
using Clock = std::chrono::steady_clock;

TEST_CASE("enqueue: when it returns, the message is in the queue and the PENDING row committed") {
  ClientFixture f;
  EnqueueOptions options;
  options.priority = 7;
  const JobId id = f.client->enqueue("demo.add", {1, 2}, {{"scale", 10}}, options);

  const auto record = f.client->status(id);
  REQUIRE(record.has_value());
  CHECK(record->state == JobState::Pending);
  CHECK(record->task == "demo.add");
  CHECK(record->queue == f.queue);
  CHECK(record->priority == 7);
  CHECK(record->args == nlohmann::json{1, 2});
  CHECK(record->enqueued_at.has_value());
  CHECK(f.ready() == 1);

  const auto jobs = f.consume(1);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == id);
  CHECK(jobs[0].task == "demo.add");
  CHECK(jobs[0].priority == 7);
  CHECK(jobs[0].kwargs == nlohmann::json{{"scale", 10}});
  CHECK(jobs[0].origin.has_value());
}

TEST_CASE("enqueue_many: 1,000 jobs pipelined, every one confirmed, rows written in one batch") {
  ClientFixture f;
  std::vector<EnqueueRequest> requests;
  for (int i = 0; i < 1000; ++i)
    requests.push_back(EnqueueRequest{"demo.add", {i, i}, nlohmann::json::object(), {}});
  const auto start = Clock::now();
  const auto ids = f.client->enqueue_many(requests);
  const auto elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  MESSAGE("enqueue_many of 1000 jobs (PENDING rows + confirmed publishes): " << elapsed << " ms");

  REQUIRE(ids.size() == 1000);
  CHECK(std::set<JobId>(ids.begin(), ids.end()).size() == 1000);
  CHECK(f.ready() == 1000);
  CHECK(f.job_rows() == 1000);
  const auto jobs = f.consume(1000);
  REQUIRE(jobs.size() == 1000);
  CHECK(jobs.front().id == ids.front()); // one priority: FIFO, the order given
  CHECK(jobs.back().id == ids.back());
}

TEST_CASE("enqueue: bad input is refused before anything is written or published") {
  ClientFixture f;
  EnqueueOptions bad_priority;
  bad_priority.priority = 12;
  try {
    f.client->enqueue("demo.add", {1}, {}, bad_priority);
    FAIL("priority 12 accepted");
  } catch (const celeriac::InvalidInput& e) {
    CHECK(e.field() == "priority");
  }

  EnqueueOptions unknown_queue;
  unknown_queue.queue = "nowhere";
  try {
    f.client->enqueue("demo.add", {1}, {}, unknown_queue);
    FAIL("unknown queue accepted");
  } catch (const celeriac::InvalidInput& e) {
    CHECK(e.field() == "queue");
    CHECK(std::string(e.what()).find("nowhere") != std::string::npos);
  }

  CHECK_THROWS_AS(f.client->enqueue("bad task", {1}), celeriac::InvalidInput);
  CHECK_THROWS_AS(f.client->enqueue("demo.add", nlohmann::json{{"not", "an array"}}),
                  celeriac::InvalidInput);

  EnqueueRequest valid;
  valid.task = "demo.add";
  std::vector<EnqueueRequest> batch(3, valid);
  batch[2].options.priority = -1;
  try {
    f.client->enqueue_many(batch);
    FAIL("a batch with a bad request accepted");
  } catch (const celeriac::InvalidInput& e) {
    CHECK(e.field() == "requests[2].priority");
  }
  CHECK(f.client->enqueue_many({}).empty());
  CHECK(f.ready() == 0);
  CHECK(f.job_rows() == 0);
}

TEST_CASE("enqueue: null args and kwargs stand for [] and {}; a given id is kept") {
  ClientFixture f;
  EnqueueOptions options;
  options.id = celeriac::test::random_job_id();
  CHECK(f.client->enqueue("demo.noop", {}, {}, options) == *options.id);
  const auto jobs = f.consume(1);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].args == nlohmann::json::array());
  CHECK(jobs[0].kwargs == nlohmann::json::object());
}

TEST_CASE("enqueue: a countdown waits in the broker's delay levels, then arrives") {
  ClientFixture f;
  EnqueueOptions options;
  options.countdown = std::chrono::seconds(1);
  const auto start = Clock::now();
  const JobId id = f.client->enqueue("demo.later", {}, {}, options);
  CHECK(f.ready() == 0);
  const auto jobs = f.consume(1);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == id);
  CHECK(Clock::now() - start >= std::chrono::milliseconds(900));
  CHECK(jobs[0].eta.has_value());
}

TEST_CASE("enqueue: safe from many threads at once") {
  ClientFixture f;
  std::vector<std::vector<JobId>> ids(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < ids.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i)
        ids[t].push_back(f.client->enqueue("demo.add", {static_cast<int>(t), i}));
    });
  }
  for (auto& thread : threads)
    thread.join();
  std::set<JobId> all;
  for (const auto& some : ids)
    all.insert(some.begin(), some.end());
  CHECK(all.size() == 400);
  CHECK(f.ready() == 400);
  CHECK(f.job_rows() == 400);
}

TEST_CASE("track_pending off: nothing is written until a worker records the job") {
  celeriac::ClientOptions options;
  options.track_pending = false;
  ClientFixture f(options);
  const JobId id = f.client->enqueue("demo.add", {1});
  CHECK_FALSE(f.client->status(id).has_value());
  CHECK(f.ready() == 1);
}

TEST_CASE("Client: an unreachable broker is an InfrastructureError naming it, within the timeout") {
  auto config = celeriac::test::client_config("default", "celeriac");
  config.broker.url = "amqp://guest:secret@127.0.0.1:1/%2f";
  celeriac::ClientOptions options;
  options.connect_timeout = std::chrono::seconds(1);
  const auto start = Clock::now();
  try {
    Client client(config, options);
    FAIL("connected to a closed port");
  } catch (const celeriac::InfrastructureError& e) {
    const std::string what = e.what();
    CHECK(what.find("127.0.0.1:1") != std::string::npos);
    CHECK(what.find("secret") == std::string::npos);
  }
  CHECK(Clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("Client: with track_pending, an unreachable database fails the constructor, naming it") {
  ClientFixture reachable; // only for a broker queue that exists
  auto config = celeriac::test::client_config(reachable.queue, reachable.db.name);
  config.database.url = "postgresql://someone:secret@127.0.0.1:1/none";
  try {
    Client client(config);
    FAIL("connected to a closed port");
  } catch (const celeriac::InfrastructureError& e) {
    const std::string what = e.what();
    CHECK(what.find("127.0.0.1:1") != std::string::npos);
    CHECK(what.find("secret") == std::string::npos);
  }
}

TEST_CASE("Client: a malformed broker URL is InvalidInput naming broker.url") {
  auto config = celeriac::test::client_config("default", "celeriac");
  config.broker.url = "http://guest:secret@host/";
  try {
    Client client(config);
    FAIL("accepted an http URL");
  } catch (const celeriac::InvalidInput& e) {
    CHECK(e.field() == "broker.url");
    CHECK(std::string(e.what()).find("secret") == std::string::npos);
  }
}

} // namespace
