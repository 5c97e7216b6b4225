// Publisher: confirmed publishing on one channel of a Connection.
//
// Publisher confirms, pipelined: up to `window` messages are unconfirmed at
// once; more wait in order behind them (never one round trip per message).
// Publishes are mandatory by default, so an unroutable message comes back
// (basic.return, matched by the message-id property this class sets) and
// completes as Returned instead of vanishing. While the broker has blocked
// the connection (a resource alarm), nothing is sent: callers' messages wait.
//
// Each publish completes exactly once: Confirmed, Nacked, Returned, or Failed
// (stop() with messages outstanding, a publish after stop(), or a message
// AMQP cannot carry: a name or property over 255 bytes, headers over a frame).
// Failures found in publish() are reported from the loop afterwards, never
// inside the call. When the connection is lost, messages
// not yet confirmed go back, in their order, to the front of the queue, and
// start() on the new connection sends them again: at-least-once; job ids make
// the duplicates harmless.
// A message is written only when the socket has room for all of it (see
// Connection::reserve_send); otherwise it waits, in order, for the socket to
// drain. A body of more than one frame goes out a frame at a time as room
// appears, so even a message larger than the socket can hold never waits
// inside a write.
// So a broker that stops reading never stops the loop inside a publish.
//
// Threading: the Connection's loop thread only; callbacks run there.
#pragma once

#include <amqp.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {

enum class PublishStatus { Confirmed, Nacked, Returned, Failed };

struct PublishResult {
  PublishStatus status = PublishStatus::Failed;
  std::string detail; // reply text of a return, reason of a failure
};

using PublishCallback = std::function<void(const PublishResult&)>;

struct Outgoing {
  std::string exchange; // "" is the default exchange: routing key = queue name
  std::string routing_key;
  Message message;
  PublishCallback done;
  bool mandatory = true;
};

std::string_view to_string(PublishStatus status);

class Publisher {
 public:
  Publisher(Connection& connection, amqp_channel_t channel, std::size_t window);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Opens the channel in confirm mode and sends what is waiting (after a
  // reconnect: what was unconfirmed). Throws InfrastructureError.
  void start();
  // Completes every outstanding publish with Failed(REASON).
  void stop(const std::string& reason);

  void publish(Outgoing outgoing);

  std::size_t unconfirmed() const { return unconfirmed_.size(); }
  std::size_t waiting() const { return waiting_.size(); }
  // Messages sent again after a reconnect (duplicates the broker may hold).
  std::uint64_t republished() const { return republished_; }

  // Wiring from the Connection's handlers.
  void on_method(const amqp_method_t& method);
  void on_return(InboundMessage&& returned);
  void on_connection_lost();

 private:
  struct InFlight {
    Outgoing outgoing;
    bool returned = false;
    std::string return_text;
    bool resent = false;
    std::size_t table_bytes = 0; // the encoded headers, for the size on the wire
  };

  void flush();
  void requeue_unconfirmed();
  void fail_later(PublishCallback done, std::string reason);
  void on_channel_closed(const amqp_method_t& method);
  bool send(InFlight& flight, std::uint64_t seq, bool head_only);
  bool stream_body();
  std::size_t body_per_frame() const;
  void complete(std::uint64_t tag, bool multiple, PublishStatus status);

  Connection& connection_;
  amqp_channel_t channel_;
  std::size_t window_;
  bool started_ = false;
  std::uint64_t next_seq_ = 1;
  std::map<std::uint64_t, InFlight> unconfirmed_; // by delivery tag (confirm sequence number)
  std::deque<InFlight> waiting_;
  // The message whose body frames are going out, one frame as room appears.
  struct Streaming {
    std::uint64_t seq = 0;
    std::size_t offset = 0; // body bytes sent
  };
  std::optional<Streaming> streaming_;
  std::uint64_t republished_ = 0;
  bool closed_ = false; // stop() was called and start() not since
  amqp_pool_t pool_{};
  std::deque<std::pair<PublishCallback, PublishResult>> deferred_; // run by deferred_idle_
  uv_idle_t* deferred_idle_ = nullptr;                             // freed in its close callback
};

} // namespace celeriac::broker
