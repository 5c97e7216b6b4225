// The RabbitMQ topology celeriac runs on (DESIGN.md "RabbitMQ topology"),
// declared idempotently on one channel:
//
// - a durable job queue per configured queue, published to through the default
//   exchange (routing key = queue name), with exactly the arguments a Celery app
//   with task_queue_max_priority declares: {x-max-priority} for classic queues,
//   {x-queue-type: quorum} for quorum ones (RabbitMQ 3.10 quorum queues have
//   no priorities), so a Celery client declaring the same queue never conflicts;
// - "<queue>.dead" for messages that can never run;
// - the delay levels (delay_routing.hpp): 28 topic exchanges and 28 quorum
//   queues with per-level TTL and at-least-once dead-lettering, and the
//   delivery exchange bound to every job queue;
// - the control fanout exchange and Celery's "celeryev" events exchange.
//
// Throws ChannelError; a queue that exists with other arguments is a
// ChannelError naming the queue and both values (as the broker reports them).
#pragma once

#include <amqp.h>

#include <string>
#include <string_view>
#include <vector>

#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {

inline constexpr std::string_view kControlExchange = "celeriac.control";
inline constexpr std::string_view kEventsExchange = "celeryev";

struct QueueSpec {
  std::string name;
  bool quorum = false;
  int max_priority = 9; // classic queues only
};

struct TopologySpec {
  std::vector<QueueSpec> queues;
  bool delays = true;
};

std::string dead_letter_queue(std::string_view queue);

void declare_topology(Connection& connection, amqp_channel_t channel, const TopologySpec& spec);
void declare_job_queue(Connection& connection, amqp_channel_t channel, const QueueSpec& queue);
void declare_delay_levels(Connection& connection, amqp_channel_t channel);

} // namespace celeriac::broker
