// worker_bench's baseline: the simplest correct consumer written against
// rabbitmq-c alone, acking each message as it arrives and doing nothing else.
#include <fmt/format.h>

#include <stdexcept>

#include "bare_amqp.hpp"

namespace celeriac::bench {

ConsumeResult run_bare_consumer(const std::string& url, const std::string& queue,
                                std::uint64_t count, std::uint16_t prefetch,
                                const std::function<void()>& on_consuming) {
  BareConnection connection(url, std::chrono::seconds(0));
  amqp_connection_state_t state = connection.native();
  amqp_basic_qos(state, BareConnection::kChannel, 0, prefetch, 0);
  connection.check("basic.qos");
  amqp_basic_consume(state, BareConnection::kChannel, amqp_cstring_bytes(queue.c_str()),
                     amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  connection.check("basic.consume");
  if (on_consuming) on_consuming();
  ConsumeResult result;
  std::chrono::steady_clock::time_point first{};
  std::chrono::duration<double> cpu_at_first{0};
  while (result.acked < count) {
    amqp_envelope_t envelope;
    timeval stall{kStallTimeout.count(), 0};
    amqp_maybe_release_buffers(state);
    const amqp_rpc_reply_t reply = amqp_consume_message(state, &envelope, &stall, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      throw std::runtime_error(fmt::format("consuming {} stopped after {} messages: {}", queue,
                                           result.acked,
                                           reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                                               ? amqp_error_string2(reply.library_error)
                                               : "a broker method"));
    }
    if (result.acked == 0) {
      first = std::chrono::steady_clock::now();
      cpu_at_first = process_cpu();
    }
    const int rc = amqp_basic_ack(state, BareConnection::kChannel, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
    if (rc != AMQP_STATUS_OK) throw std::runtime_error("basic.ack failed");
    ++result.acked;
  }
  result.finished = std::chrono::steady_clock::now();
  result.elapsed = result.finished - first;
  result.cpu = process_cpu() - cpu_at_first;
  return result;
}

} // namespace celeriac::bench
