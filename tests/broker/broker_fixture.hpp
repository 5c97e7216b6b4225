// A Broker on a private loop, declaring its own uniquely named job queues,
// which are deleted (with their dead-letter queues) when the fixture goes.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "celeriac/broker/broker.hpp"
#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/core/enqueue_options.hpp"
#include "loop_runner.hpp"
#include "test_env.hpp"

namespace celeriac::test {

// Deletes job queue QUEUE and its dead-letter queue through BROKER's admin channel.
inline void delete_job_queue(broker::Broker& broker, const std::string& queue) {
  for (const auto& name : {queue, broker::dead_letter_queue(queue)}) {
    amqp_queue_delete(broker.connection().native(), broker::Broker::kAdminChannel,
                      amqp_cstring_bytes(name.c_str()), 0, 0);
    broker.connection().check_reply(broker::Broker::kAdminChannel, "queue.delete");
  }
}

struct BrokerFixture {
  uv_loop_t loop{};
  std::vector<std::string> queues;
  std::unique_ptr<broker::Broker> broker;

  // ADJUST, if given, changes the options before the broker starts.
  explicit BrokerFixture(std::vector<broker::QueueSpec> specs, bool delays = false,
                         const std::function<void(broker::BrokerOptions&)>& adjust = {}) {
    uv_loop_init(&loop);
    broker::BrokerOptions options;
    options.connection.url = required_env("CELERIAC_BROKER_URL");
    options.connection.heartbeat = std::chrono::seconds(10);
    options.topology.delays = delays;
    for (auto& spec : specs)
      queues.push_back(spec.name);
    options.topology.queues = std::move(specs);
    if (adjust) adjust(options);
    broker = std::make_unique<broker::Broker>(&loop, options);
    broker->start();
  }

  ~BrokerFixture() {
    try {
      if (broker->connected()) {
        for (const auto& q : queues)
          delete_job_queue(*broker, q);
      }
    } catch (const std::exception& e) { // a connection lost unnoticed: the queues stay behind
      MESSAGE("test queues not deleted: ", e.what());
    }
    broker->stop();
    broker.reset();
    CHECK(close_loop(&loop) == 0);
  }

  // Publishes JOBS and runs the loop until every one is confirmed.
  void publish_all(const std::vector<Job>& jobs) {
    std::size_t confirmed = 0;
    for (const auto& job : jobs) {
      broker->publish(job, [&](const broker::PublishResult& r) {
        REQUIRE(r.status == broker::PublishStatus::Confirmed);
        ++confirmed;
      });
    }
    REQUIRE(run_until(
        &loop, [&] { return confirmed == jobs.size(); }, std::chrono::seconds(60)));
  }

  // Consumes and acks every message ready in QUEUE now (its depth when
  // called) and returns their jobs, in delivery order.
  std::vector<Job> take_all(const std::string& queue) {
    const auto depth = probe_queue(broker->connection(), broker::Broker::kAdminChannel, queue);
    REQUIRE(depth.has_value());
    std::vector<Job> jobs;
    if (depth->ready == 0) return jobs;
    // Shared with the handler: a delivery arriving after the cancel lands
    // in it, never in a dead stack frame.
    auto deliveries = std::make_shared<std::vector<broker::Delivery>>();
    broker->consume({queue}, 200,
                    [deliveries](broker::Delivery&& d) { deliveries->push_back(std::move(d)); });
    REQUIRE(run_until(
        &loop,
        [&] {
          for (auto& delivery : *deliveries) {
            REQUIRE(delivery.job.has_value());
            jobs.push_back(*delivery.job);
            broker->ack(delivery);
          }
          deliveries->clear();
          return jobs.size() >= depth->ready;
        },
        std::chrono::seconds(30)));
    broker->stop_consuming();
    return jobs;
  }
};

inline Job test_job(const std::string& queue, int priority, int seq) {
  Job job;
  JobId::Bytes bytes{};
  for (std::size_t i = 0; i < 4; ++i)
    bytes[i] = static_cast<std::uint8_t>(seq >> (8 * i));
  bytes[15] = 1;
  job.id = JobId::v4(bytes);
  job.task = "demo.add";
  job.queue = queue;
  job.priority = priority;
  job.args = nlohmann::json::array({seq, priority});
  return job;
}

} // namespace celeriac::test
