// Queue depth by passive queue.declare: ready messages and consumers, cheap
// and available on every broker. Unacked counts and rates need the
// management API (management_api.hpp).
//
// Caution for quorum queues: RabbitMQ can answer a passive declare of a quorum
// queue with 0 messages when its leader is slow to reply, so a 0 from here is
// not proof of an empty quorum queue; prefer the management API for them.
//
// Runs a synchronous RPC on CHANNEL (blocks the loop up to the connection's
// timeout). A missing queue closes the channel; it is reopened and nullopt
// returned. Other failures throw InfrastructureError.
#pragma once

#include <amqp.h>

#include <cstdint>
#include <optional>
#include <string>

#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {

struct QueueDepth {
  std::uint32_t ready = 0;
  std::uint32_t consumers = 0;
};

std::optional<QueueDepth> probe_queue(Connection& connection, amqp_channel_t channel,
                                      const std::string& queue);

} // namespace celeriac::broker
