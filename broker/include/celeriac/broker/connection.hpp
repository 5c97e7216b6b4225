// Connection: one AMQP connection (rabbitmq-c) driven by the libuv loop it is
// opened on.
//
// Threading: every method, and every handler, runs on the loop's thread;
// nothing else may touch the connection. Reading never blocks: a uv_poll on the
// socket drains frames with amqp_simple_wait_frame_noblock until it times out,
// and content frames are assembled here, so a half-arrived message waits for
// the next poll. A timer at a quarter of the heartbeat interval lets rabbitmq-c
// send heartbeats, and notices a broker gone silent: RabbitMQ sends a
// heartbeat every interval/2, so nothing received for 1.5 intervals (three
// beats missed) loses the connection, well within two intervals of a freeze.
// (Half the interval, as rabbitmq-c's own check uses, can take 2.5.) Opening and synchronous
// RPCs (declare, qos, consume) block the loop for at most options.timeout.
// Writes: rabbitmq-c writes a frame until it is all out, waiting with no
// timeout, so a broker that stops reading would hang the loop in the middle
// of a publish. Writers of bulk (the Publisher) therefore ask reserve_send()
// before each message and, when the socket's send queue has no room, wait
// with wait_writable() instead (see connection_send.cpp for how room is measured).
//
// Errors: open() and check_reply() throw InfrastructureError (ChannelError when
// the broker refused an operation). A lost connection (socket error, missed
// heartbeats, connection.close) calls on_lost once; the Connection is then
// closed and may be opened again. Passwords never appear in errors or logs.
#pragma once

#include <amqp.h>
#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "celeriac/broker/broker_url.hpp"
#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/error.hpp"

namespace celeriac::broker {

struct ConnectionOptions {
  std::string url = "amqp://guest:guest@localhost:5672/%2f";
  TlsOptions tls;
  std::chrono::seconds heartbeat{30};
  std::chrono::milliseconds timeout{5000}; // connecting, and each synchronous RPC
  std::string name = "celeriac";           // shown as connection_name in the management UI
  // A pushed message whose body is larger arrives without it (body_dropped):
  // its body frames are counted and thrown away as they come, never held.
  std::size_t max_body_bytes = SIZE_MAX;
};

// The broker refused an operation (404 NOT_FOUND, 406 PRECONDITION_FAILED, ...);
// the channel it was on has been reopened.
class ChannelError : public InfrastructureError {
 public:
  ChannelError(int code, const std::string& message) : InfrastructureError(message), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// A message the broker pushed: basic.deliver to a consumer, or basic.return of
// an unroutable mandatory publish.
struct InboundMessage {
  amqp_method_number_t method = 0; // AMQP_BASIC_DELIVER_METHOD or AMQP_BASIC_RETURN_METHOD
  std::string consumer_tag;
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  int reply_code = 0; // basic.return only
  std::string reply_text;
  std::string exchange;
  std::string routing_key;
  std::optional<std::string> message_id;
  Message message;
  std::uint64_t body_size = 0; // as the content header declared it
  bool body_dropped = false;   // over ConnectionOptions::max_body_bytes: message.body is empty
};

class Connection {
 public:
  struct Handlers {
    // Methods the broker sends unasked: basic.ack/nack (confirms), basic.cancel,
    // channel.close (already answered with close-ok), connection.blocked/unblocked.
    std::function<void(amqp_channel_t, const amqp_method_t&)> on_method;
    std::function<void(amqp_channel_t, InboundMessage&&)> on_message;
    std::function<void(const std::string& reason)> on_lost;
  };

  Connection(uv_loop_t* loop, ConnectionOptions options, Handlers handlers);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void open();
  // Closes politely if open; safe twice and before open(). Does not call on_lost.
  void close();
  bool is_open() const { return state_ != nullptr; }
  // The broker blocked publishing (a resource alarm); publishers wait.
  bool blocked() const { return blocked_; }
  // Counts successful open()s: deliveries carry it so a tag from a dead connection is never acked.
  std::uint64_t generation() const { return generation_; }

  amqp_connection_state_t native() const { return state_; }
  const BrokerUrl& url() const { return url_; }
  uv_loop_t* loop() const { return loop_; }

  void open_channel(amqp_channel_t channel);
  // Checks the reply of the synchronous rabbitmq-c call just made on CHANNEL.
  // A refusal closes the channel: it is answered, reopened and thrown as
  // ChannelError. A transport failure loses the connection and throws.
  void check_reply(amqp_channel_t channel, std::string_view what);
  // Checks the status of an asynchronous call (publish, ack); false if the connection was lost.
  bool check_status(int status, std::string_view what);
  // Process frames rabbitmq-c already holds, on the next loop iteration.
  void drain_soon();

  // True, and BYTES (an estimate of what the frames will take on the wire)
  // counted against the room, if they can be written without waiting for the
  // broker to read; false if the writer should wait_writable() first. More
  // than the whole send buffer is allowed once the send queue is empty. A
  // reserve is always left for heartbeats, acks and RPCs.
  bool reserve_send(std::size_t bytes);
  // Calls READY once, when BYTES would fit; one waiter at a time (a later
  // call replaces it). A lost or closed connection forgets it. Watches for
  // POLLOUT only while something waits (a writable socket would otherwise
  // wake the loop on every turn).
  void wait_writable(std::size_t bytes, std::function<void()> ready);
  void cancel_wait_writable();

 private:
  // A message whose header and body frames are still arriving.
  struct Content {
    InboundMessage message;
    std::uint64_t received = 0; // body bytes seen, kept or not
    bool have_header = false;
  };

  void start_watching();
  void stop_watching();
  void drain();
  void dispatch(const amqp_frame_t& frame);
  void dispatch_method(amqp_channel_t channel, const amqp_method_t& method);
  void begin_content(amqp_channel_t channel, const amqp_method_t& method);
  void content_frame(const amqp_frame_t& frame);
  void lose(const std::string& reason);
  void destroy_state();
  void on_heartbeat_timer();
  bool socket_readable() const;
  void on_poll(int events);
  void watch_writable(bool on);
  void on_writable_event();
  struct SendQueue {
    std::size_t room = 0; // bytes that may still be queued, the reserve kept aside
    std::size_t queued = 0;
    bool known = false; // false where the kernel does not tell (room is then unlimited)
  };
  SendQueue measure_send_queue() const;
  std::size_t on_wire(std::size_t bytes) const;

  uv_loop_t* loop_;
  ConnectionOptions options_;
  Handlers handlers_;
  BrokerUrl url_;
  amqp_connection_state_t state_ = nullptr;
  uv_poll_t* poll_ = nullptr;       // freed in its close callback
  uv_timer_t* heartbeat_ = nullptr; // freed in its close callback
  uv_idle_t* drainer_ = nullptr;    // freed in its close callback
  uv_timer_t* recheck_ = nullptr;   // re-measures room when POLLOUT came too early; freed on close
  std::size_t send_credit_ = 0;     // bytes known to fit without measuring again
  std::size_t writable_wanted_ = 0; // what a waiting writer needs; 0: nobody waits
  std::function<void()> writable_ready_;
  std::unordered_map<amqp_channel_t, Content> partial_;
  bool blocked_ = false;
  bool draining_ = false;
  int heartbeat_seconds_ = 0;                          // as negotiated at login
  std::chrono::steady_clock::time_point last_inbound_; // bytes last seen on the socket
  std::uint64_t generation_ = 0;
};

} // namespace celeriac::broker
