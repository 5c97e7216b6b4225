#include "celeriac/broker/depth_probe.hpp"

#include "celeriac/broker/amqp_message.hpp"

namespace celeriac::broker {

std::optional<QueueDepth> probe_queue(Connection& connection, amqp_channel_t channel,
                                      const std::string& queue) {
  if (!connection.is_open()) throw InfrastructureError("queue.declare (passive): not connected");
  const amqp_queue_declare_ok_t* ok = amqp_queue_declare(
      connection.native(), channel, bytes_view(queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
  try {
    connection.check_reply(channel, "queue.declare (passive)");
  } catch (const ChannelError& e) {
    if (e.code() == AMQP_NOT_FOUND) return std::nullopt;
    throw;
  }
  return QueueDepth{ok->message_count, ok->consumer_count};
}

} // namespace celeriac::broker
