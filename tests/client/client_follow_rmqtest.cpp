// Client::status, result, wait and revoke against the private servers, with a
// worker simulated by writing its changes through store::apply_changes.
#include <amqp.h>

#include <doctest/doctest.h>

#include <chrono>
#include <future>

#include "celeriac/store/job_waiter.hpp"
#include "client_fixture.hpp"

namespace {

using celeriac::JobId;
using celeriac::JobState;
using celeriac::test::ClientFixture;
using celeriac::test::finished;
using Clock = std::chrono::steady_clock;
namespace store = celeriac::store;

celeriac::Timestamp now() {
  return std::chrono::time_point_cast<celeriac::Duration>(std::chrono::system_clock::now());
}

// Starts CLIENT.wait(ID) on another thread and returns once its waiter sleeps.
std::future<store::JobRecord> wait_async(ClientFixture& f, JobId id) {
  auto pending = std::async(std::launch::async,
                            [&f, id] { return f.client->wait(id, std::chrono::seconds(10)); });
  REQUIRE(celeriac::test::eventually(
      [&] {
        return f.db.count("select count(*) from pg_stat_activity where application_name = '" +
                          store::waiter_application_name(f.db.name) +
                          "' and state = 'idle' and query in ('COMMIT', 'ROLLBACK')") > 0;
      },
      std::chrono::milliseconds(5000)));
  return pending;
}

TEST_CASE("status, result and wait follow a job a worker runs to SUCCESS") {
  ClientFixture f;
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  const auto job = f.consume(1).at(0);
  CHECK_FALSE(f.client->result(id).has_value()); // PENDING: no result yet

  f.worker_writes(store::received_change(job, now(), "test-host:1"));
  CHECK(f.client->status(id)->state == JobState::Received);
  CHECK(f.client->status(id)->worker == "test-host:1");

  auto waiting = wait_async(f, id);
  const auto writing = Clock::now();
  f.worker_writes(finished(id, JobState::Success));
  const store::JobRecord record = waiting.get();
  MESSAGE("worker's write to wait() returning: "
          << std::chrono::duration<double, std::milli>(Clock::now() - writing).count() << " ms");
  CHECK(record.state == JobState::Success);
  CHECK(record.result == nlohmann::json{{"sum", 3}});
  CHECK(f.client->result(id) == nlohmann::json{{"sum", 3}});
}

TEST_CASE("result throws JobFailed for a FAILURE; wait returns the record instead") {
  ClientFixture f;
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  f.worker_writes(finished(id, JobState::Failure));
  // Duration::max() waits for ever, without overflowing the deadline.
  const auto record = f.client->wait(id, celeriac::Duration::max());
  CHECK(record.state == JobState::Failure);
  try {
    (void)f.client->result(id);
    FAIL("result() of a failed job did not throw");
  } catch (const celeriac::JobFailed& e) {
    REQUIRE(e.record().error.has_value());
    CHECK(e.record().error->type == "ValueError");
    CHECK(std::string(e.what()).find("ValueError") != std::string::npos);
  }
}

TEST_CASE("wait: times out with the last state it saw; an unknown job has none") {
  ClientFixture f;
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  const auto start = Clock::now();
  try {
    (void)f.client->wait(id, std::chrono::milliseconds(200));
    FAIL("wait did not time out");
  } catch (const celeriac::WaitTimeout& e) {
    CHECK(e.id() == id);
    CHECK(e.last_state() == JobState::Pending);
  }
  CHECK(Clock::now() - start >= std::chrono::milliseconds(200));
  CHECK(Clock::now() - start < std::chrono::seconds(3));

  try {
    (void)f.client->wait(celeriac::test::random_job_id(), std::chrono::milliseconds(50));
    FAIL("wait did not time out");
  } catch (const celeriac::WaitTimeout& e) {
    CHECK_FALSE(e.last_state().has_value());
  }
  CHECK_FALSE(f.client->status(celeriac::test::random_job_id()).has_value());
  CHECK_THROWS_AS((void)f.client->wait(id, std::chrono::milliseconds(-1)), celeriac::InvalidInput);
}

// Binds a fresh queue to the control exchange through the inspector's admin
// channel, so the test sees the broadcast.
std::string listen_to_control(ClientFixture& f) {
  const std::string queue = celeriac::test::unique_name("celeriac_test_control_");
  auto& connection = f.inspector.broker->connection();
  const auto channel = celeriac::broker::Broker::kAdminChannel;
  amqp_queue_declare(connection.native(), channel, amqp_cstring_bytes(queue.c_str()), 0, 0, 1, 0,
                     amqp_empty_table);
  connection.check_reply(channel, "queue.declare");
  amqp_queue_bind(connection.native(), channel, amqp_cstring_bytes(queue.c_str()),
                  amqp_cstring_bytes("celeriac.control"), amqp_empty_bytes, amqp_empty_table);
  connection.check_reply(channel, "queue.bind");
  return queue;
}

TEST_CASE("revoke: a pending job becomes REVOKED, its waiter wakes, workers are told") {
  ClientFixture f;
  const std::string control = listen_to_control(f);
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  auto waiting = wait_async(f, id);

  celeriac::RevokeOptions options;
  options.terminate = true;
  options.reason = "changed my mind";
  const auto outcome = f.client->revoke(id, options);
  CHECK(outcome.effect == store::RevokeEffect::Revoked);
  CHECK(outcome.previous_state == JobState::Pending);
  CHECK(outcome.broadcast);

  const auto record = waiting.get();
  CHECK(record.state == JobState::Revoked);
  REQUIRE(record.error.has_value());
  CHECK(record.error->message == "changed my mind");
  CHECK_THROWS_AS((void)f.client->result(id), celeriac::JobFailed);
  CHECK(f.db.count("select count(*) from " + f.db.table("revoked") +
                   " where terminate and expires_at is null") == 1);

  auto depth = celeriac::broker::probe_queue(f.inspector.broker->connection(),
                                             celeriac::broker::Broker::kAdminChannel, control);
  REQUIRE(depth.has_value());
  CHECK(depth->ready >= 1); // other test runs on this broker may broadcast too
}

TEST_CASE("revoke: a finished job stays finished; an unknown one is only remembered") {
  ClientFixture f;
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  f.worker_writes(finished(id, JobState::Success));
  const auto outcome = f.client->revoke(id);
  CHECK(outcome.effect == store::RevokeEffect::AlreadyFinished);
  CHECK(outcome.previous_state == JobState::Success);
  CHECK(f.client->status(id)->state == JobState::Success);

  celeriac::RevokeOptions options;
  options.remember_for = std::chrono::hours(1);
  const auto unknown = f.client->revoke(celeriac::test::random_job_id(), options);
  CHECK(unknown.effect == store::RevokeEffect::NotTracked);
  CHECK(f.db.count("select count(*) from " + f.db.table("revoked") +
                   " where expires_at > now() + interval '59 minutes'") == 1);
  options.remember_for = std::chrono::seconds(-1);
  CHECK_THROWS_AS(f.client->revoke(id, options), celeriac::InvalidInput);
}

// Ends the server side of every connection named APPLICATION_NAME.
long terminate_connections(ClientFixture& f, const std::string& application_name) {
  return f.db.count(
      "select count(pg_terminate_backend(pid)) from pg_stat_activity"
      " where application_name = '" +
      application_name + "'");
}

TEST_CASE("connections the server closed are replaced: queries and pooled waiters go on") {
  ClientFixture f;
  const JobId id = f.client->enqueue("demo.add", {1, 2});
  CHECK_THROWS_AS((void)f.client->wait(id, std::chrono::milliseconds(20)), celeriac::WaitTimeout);

  CHECK(terminate_connections(f, "celeriac client " + f.db.name) == 1);
  CHECK(terminate_connections(f, store::waiter_application_name(f.db.name)) == 1); // the idle one
  REQUIRE(f.client->status(id).has_value());

  f.worker_writes(finished(id, JobState::Success));
  CHECK(f.client->wait(id, std::chrono::seconds(5)).state == JobState::Success);
}

} // namespace
