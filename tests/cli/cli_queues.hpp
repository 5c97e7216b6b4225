// CliQueues: two job queues of a test's own (declared by a BrokerFixture,
// deleted at the end), a database schema name of its own, and the scratch
// configuration and environment that name them for the `celeriac` child.
// The fixture's broker plays the worker's side: depth() and take().
#pragma once

#include <pqxx/pqxx>

#include <deque>

#include "../broker/broker_fixture.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "cli_process.hpp"

namespace celeriac::test {

struct CliQueues {
  std::string main = unique_name("cli_main_");
  std::string other = unique_name("cli_other_");
  std::string schema = unique_name("celeriac_cli_");
  // No heartbeats: the fixture's loop runs only when the test calls into it,
  // not while a `celeriac` child runs (up to a minute), and RabbitMQ would
  // drop a connection whose heartbeats went unanswered, leaving the queues.
  BrokerFixture broker{{broker::QueueSpec{main, false, 9}, broker::QueueSpec{other, false, 9}},
                       false,
                       [](broker::BrokerOptions& o) { o.connection.heartbeat = {}; }};
  ScratchConfig config{"[database]\nschema = \"" + schema + "\"\n[queues." + main + "]\n[queues." +
                       other + "]\n"};
  std::map<std::string, std::string> env{
      {"CELERIAC_CONFIG", config.file.string()},
      {"CELERIAC_BROKER_URL", required_env("CELERIAC_BROKER_URL")},
      {"CELERIAC_DATABASE_URL", required_env("CELERIAC_DATABASE_URL")}};

  CliQueues() = default;
  CliQueues(const CliQueues&) = delete;
  CliQueues& operator=(const CliQueues&) = delete;
  ~CliQueues() {
    try {
      pqxx::connection conn{required_env("CELERIAC_DATABASE_URL")};
      pqxx::work tx{conn};
      tx.exec0("drop schema if exists " + tx.quote_name(schema) + " cascade");
      tx.commit();
    } catch (const std::exception& e) {
      MESSAGE("could not drop schema " << schema << ": " << e.what());
    }
  }

  std::uint32_t depth(const std::string& queue) {
    const auto d =
        broker::probe_queue(broker.broker->connection(), broker::Broker::kAdminChannel, queue);
    REQUIRE(d.has_value());
    return d->ready;
  }

  // The next message of QUEUE, consumed and acked through the fixture's broker.
  Job take(const std::string& queue) {
    if (consuming_ != queue) {
      deliveries_.clear();
      broker.broker->consume({queue}, 1,
                             [this](broker::Delivery&& d) { deliveries_.push_back(std::move(d)); });
      consuming_ = queue;
    }
    REQUIRE(run_until(
        &broker.loop, [&] { return !deliveries_.empty(); }, std::chrono::seconds(10)));
    broker::Delivery delivery = std::move(deliveries_.front());
    deliveries_.pop_front();
    REQUIRE(delivery.job.has_value());
    broker.broker->ack(delivery);
    return *delivery.job;
  }

  CliResult enqueue(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"enqueue", "demo.add"});
    return run_celeriac(flags, env);
  }

 private:
  std::string consuming_;
  std::deque<broker::Delivery> deliveries_; // filled on the fixture's loop
};

} // namespace celeriac::test
