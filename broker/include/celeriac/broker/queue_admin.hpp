// QueueAdmin: one-shot administrative operations on queues (depth, purge) for
// tools such as the `celeriac` CLI, each on a private loop and connection
// that live exactly as long as the QueueAdmin.
//
// Not for a process that carries work: every call is a synchronous AMQP RPC
// that blocks the calling thread for up to the connection's timeout, and the
// private loop is only run to let the connection's handles close.
//
// Threading: one thread at a time; the constructor's thread owns the loop.
// Errors: the constructor throws InfrastructureError when the broker cannot be
// reached or refuses the login; calls throw InfrastructureError when the
// connection fails. A queue that does not exist is nullopt, not an error.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/depth_probe.hpp"

namespace celeriac::broker {

class QueueAdmin {
 public:
  explicit QueueAdmin(ConnectionOptions options);
  ~QueueAdmin();
  QueueAdmin(const QueueAdmin&) = delete;
  QueueAdmin& operator=(const QueueAdmin&) = delete;

  // Ready messages and consumers of QUEUE (passive declare); nullopt when it does not exist.
  std::optional<QueueDepth> depth(const std::string& queue);
  // Deletes QUEUE's ready messages (queue.purge) and returns how many there
  // were; unacked messages stay with their consumers. nullopt when QUEUE does
  // not exist.
  std::optional<std::uint32_t> purge(const std::string& queue);
  // Deletes QUEUE with its messages (queue.delete, unconditional) and returns
  // how many it held; nullopt when QUEUE does not exist.
  std::optional<std::uint32_t> remove(const std::string& queue);

 private:
  static constexpr amqp_channel_t kChannel = 1;

  std::unique_ptr<uv_loop_t> loop_;
  std::unique_ptr<Connection> connection_;
};

} // namespace celeriac::broker
