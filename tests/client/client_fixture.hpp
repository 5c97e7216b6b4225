// A Client against the private servers, on a uniquely named queue and a fresh
// schema, beside an inspecting Broker (the BrokerFixture) that counts and
// consumes what the client published and deletes the queue at the end.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "../broker/broker_fixture.hpp"
#include "../store/store_fixture.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/client.hpp"
#include "celeriac/store/job_changes.hpp"

namespace celeriac::test {

inline Config client_config(const std::string& queue, const std::string& schema) {
  Config config;
  config.broker.url = required_env("CELERIAC_BROKER_URL");
  config.broker.heartbeat = std::chrono::seconds(10);
  config.database.url = database_url();
  config.database.schema = schema;
  config.database.track_pending = true;
  config.queues = {QueueConfig{.name = queue}};
  return config; // no [tasks]: every task goes to the first configured queue
}

struct ClientFixture {
  std::string queue = unique_name("celeriac_test_client_");
  MigratedSchema db;
  BrokerFixture inspector{{broker::QueueSpec{queue}}};
  std::unique_ptr<Client> client;

  explicit ClientFixture(ClientOptions options = {})
      : client(std::make_unique<Client>(client_config(queue, db.name), std::move(options))) {}

  // Ready messages in the client's queue, by passive declare.
  std::uint32_t ready() {
    auto depth =
        broker::probe_queue(inspector.broker->connection(), broker::Broker::kAdminChannel, queue);
    REQUIRE(depth.has_value());
    return depth->ready;
  }

  long job_rows() { return db.count("select count(*) from " + db.table("jobs")); }

  // Consumes until COUNT jobs arrived (or 10 s passed) and returns them.
  std::vector<Job> consume(std::size_t count) {
    std::vector<Job> jobs;
    inspector.broker->consume({queue}, 100, [&](broker::Delivery&& delivery) {
      REQUIRE(delivery.job.has_value());
      jobs.push_back(*delivery.job);
      inspector.broker->ack(delivery);
    });
    run_until(
        &inspector.loop, [&] { return jobs.size() >= count; }, std::chrono::seconds(10));
    return jobs;
  }

  // Writes CHANGE as a worker's StoreWriter would.
  void worker_writes(const store::JobChange& change) {
    pqxx::work tx{db.conn};
    store::apply_changes(tx, db.name, std::span<const store::JobChange>(&change, 1));
    tx.commit();
  }
};

// The change a worker records when job ID ends in STATE.
inline store::JobChange finished(JobId id, JobState state) {
  store::JobChange change;
  change.id = id;
  change.state = state;
  change.at = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  change.worker = "test-host:1";
  if (state == JobState::Success) change.result = nlohmann::json{{"sum", 3}};
  if (state == JobState::Failure) change.error = store::JobError{"ValueError", "bad", "trace"};
  return change;
}

} // namespace celeriac::test
