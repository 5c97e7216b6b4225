#include "celeriac/broker/queue_admin.hpp"

#include "celeriac/broker/amqp_message.hpp"

namespace celeriac::broker {

QueueAdmin::QueueAdmin(ConnectionOptions options) : loop_(std::make_unique<uv_loop_t>()) {
  uv_loop_init(loop_.get());
  connection_ =
      std::make_unique<Connection>(loop_.get(), std::move(options), Connection::Handlers{});
  try {
    connection_->open();
    connection_->open_channel(kChannel);
  } catch (...) {
    connection_.reset();
    uv_run(loop_.get(), UV_RUN_DEFAULT);
    uv_loop_close(loop_.get());
    throw;
  }
}

QueueAdmin::~QueueAdmin() {
  connection_->close();
  connection_.reset();
  // The connection's handles are freed in their close callbacks, which run here.
  uv_run(loop_.get(), UV_RUN_DEFAULT);
  uv_loop_close(loop_.get());
}

std::optional<QueueDepth> QueueAdmin::depth(const std::string& queue) {
  return probe_queue(*connection_, kChannel, queue);
}

std::optional<std::uint32_t> QueueAdmin::purge(const std::string& queue) {
  if (!connection_->is_open()) throw InfrastructureError("queue.purge: not connected");
  // A missing queue answers purge with a channel error too, but probing first
  // keeps "does not exist" apart from refusals such as an exclusive queue.
  if (!probe_queue(*connection_, kChannel, queue)) return std::nullopt;
  const amqp_queue_purge_ok_t* ok =
      amqp_queue_purge(connection_->native(), kChannel, bytes_view(queue));
  connection_->check_reply(kChannel, "queue.purge");
  return ok->message_count;
}

std::optional<std::uint32_t> QueueAdmin::remove(const std::string& queue) {
  if (!connection_->is_open()) throw InfrastructureError("queue.delete: not connected");
  if (!probe_queue(*connection_, kChannel, queue)) return std::nullopt;
  const amqp_queue_delete_ok_t* ok =
      amqp_queue_delete(connection_->native(), kChannel, bytes_view(queue), 0, 0);
  connection_->check_reply(kChannel, "queue.delete");
  return ok->message_count;
}

} // namespace celeriac::broker
