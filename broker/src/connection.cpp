#include "celeriac/broker/connection.hpp"

#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include "celeriac/broker/amqp_message.hpp"

namespace celeriac::broker {
namespace {

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000),
                 static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

std::string reply_text(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* m = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return fmt::format("{} {}", m->reply_code, to_string(m->reply_text));
      }
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* m = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return fmt::format("{} {}", m->reply_code, to_string(m->reply_text));
      }
      return fmt::format("server method {:#x}", reply.reply.id);
  }
  return "unknown reply";
}

template <typename Handle>
void close_and_free(Handle*& handle) {
  if (handle == nullptr) return;
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
  handle = nullptr;
}

amqp_socket_t* make_socket(amqp_connection_state_t state, const BrokerUrl& url,
                           const TlsOptions& tls) {
  if (!url.tls) return amqp_tcp_socket_new(state);
  amqp_socket_t* socket = amqp_ssl_socket_new(state);
  if (socket == nullptr) return nullptr;
  amqp_ssl_socket_set_verify_peer(socket, tls.verify_peer ? 1 : 0);
  amqp_ssl_socket_set_verify_hostname(socket, tls.verify_hostname ? 1 : 0);
  if (!tls.ca_cert.empty() && amqp_ssl_socket_set_cacert(socket, tls.ca_cert.c_str()) != 0) {
    throw InfrastructureError(fmt::format("cannot read CA certificate '{}'", tls.ca_cert));
  }
  if (!tls.client_cert.empty() &&
      amqp_ssl_socket_set_key(socket, tls.client_cert.c_str(), tls.client_key.c_str()) != 0) {
    throw InfrastructureError(
        fmt::format("cannot read client certificate '{}' or its key", tls.client_cert));
  }
  return socket;
}

} // namespace

Connection::Connection(uv_loop_t* loop, ConnectionOptions options, Handlers handlers)
    : loop_(loop),
      options_(std::move(options)),
      handlers_(std::move(handlers)),
      url_(BrokerUrl::parse(options_.url)) {}

Connection::~Connection() {
  close();
}

void Connection::open() {
  if (state_ != nullptr) return;
  state_ = amqp_new_connection();
  try {
    amqp_socket_t* socket = make_socket(state_, url_, options_.tls);
    if (socket == nullptr) throw InfrastructureError("cannot create a socket");
    timeval timeout = to_timeval(options_.timeout);
    amqp_set_handshake_timeout(state_, &timeout);
    amqp_set_rpc_timeout(state_, &timeout);
    const int rc = amqp_socket_open_noblock(socket, url_.host.c_str(), url_.port, &timeout);
    if (rc != AMQP_STATUS_OK) {
      throw InfrastructureError(
          fmt::format("cannot connect to {}: {}", url_.redacted(), amqp_error_string2(rc)));
    }
    amqp_table_entry_t capabilities[] = {
        {amqp_cstring_bytes("consumer_cancel_notify"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}},
        {amqp_cstring_bytes("connection.blocked"), {AMQP_FIELD_KIND_BOOLEAN, {.boolean = 1}}},
    };
    amqp_table_entry_t properties[] = {
        {amqp_cstring_bytes("connection_name"), {AMQP_FIELD_KIND_UTF8, {}}},
        {amqp_cstring_bytes("capabilities"), {AMQP_FIELD_KIND_TABLE, {}}},
    };
    properties[0].value.value.bytes = bytes_view(options_.name);
    properties[1].value.value.table = amqp_table_t{2, capabilities};
    const amqp_table_t client_properties{2, properties};
    const amqp_rpc_reply_t login = amqp_login_with_properties(
        state_, url_.vhost.c_str(), 0, 131072, static_cast<int>(options_.heartbeat.count()),
        &client_properties, AMQP_SASL_METHOD_PLAIN, url_.user.c_str(), url_.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      throw InfrastructureError(
          fmt::format("login to {} failed: {}", url_.redacted(), reply_text(login)));
    }
  } catch (...) {
    destroy_state();
    throw;
  }
  ++generation_;
  blocked_ = false;
  partial_.clear();
  send_credit_ = 0;
  writable_wanted_ = 0;
  start_watching();
}

void Connection::start_watching() {
  poll_ = new uv_poll_t;
  uv_poll_init_socket(loop_, poll_, amqp_get_sockfd(state_));
  poll_->data = this;
  last_inbound_ = std::chrono::steady_clock::now();
  watch_writable(false);
  heartbeat_ = new uv_timer_t;
  uv_timer_init(loop_, heartbeat_);
  heartbeat_->data = this;
  heartbeat_seconds_ = amqp_get_heartbeat(state_); // negotiated: the broker may lower it
  const auto quarter =
      std::max<std::uint64_t>(250, static_cast<std::uint64_t>(heartbeat_seconds_) * 250);
  uv_timer_start(
      heartbeat_, [](uv_timer_t* t) { static_cast<Connection*>(t->data)->on_heartbeat_timer(); },
      quarter, quarter);
  drainer_ = new uv_idle_t;
  uv_idle_init(loop_, drainer_);
  drainer_->data = this;
  recheck_ = new uv_timer_t;
  uv_timer_init(loop_, recheck_);
  recheck_->data = this;
}

// Bytes waiting on the socket count as life even if rabbitmq-c, not the poll
// callback, is the one to read them.
bool Connection::socket_readable() const {
  pollfd fd{amqp_get_sockfd(state_), POLLIN, 0};
  return ::poll(&fd, 1, 0) > 0;
}

void Connection::on_heartbeat_timer() {
  if (state_ == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (socket_readable()) last_inbound_ = now;
  const auto silence = now - last_inbound_;
  const auto heartbeat = std::chrono::seconds(heartbeat_seconds_);
  if (heartbeat_seconds_ > 0 && silence > heartbeat * 3 / 2) {
    lose(fmt::format("missed heartbeats: nothing from the broker for {:.1f} s (heartbeat {} s)",
                     std::chrono::duration<double>(silence).count(), heartbeat_seconds_));
    return;
  }
  drain();
}

void Connection::stop_watching() {
  close_and_free(poll_);
  close_and_free(heartbeat_);
  close_and_free(drainer_);
  close_and_free(recheck_);
  writable_wanted_ = 0;
  writable_ready_ = nullptr;
}

void Connection::destroy_state() {
  if (state_ == nullptr) return;
  amqp_destroy_connection(state_);
  state_ = nullptr;
}

void Connection::close() {
  if (state_ == nullptr) return;
  stop_watching();
  amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  destroy_state();
}

void Connection::lose(const std::string& reason) {
  if (state_ == nullptr) return;
  spdlog::warn("broker connection to {} lost: {}", url_.redacted(), reason);
  stop_watching();
  destroy_state();
  if (handlers_.on_lost) handlers_.on_lost(reason);
}

void Connection::drain_soon() {
  if (drainer_ == nullptr || uv_is_active(reinterpret_cast<uv_handle_t*>(drainer_)) != 0) return;
  uv_idle_start(drainer_, [](uv_idle_t* idle) {
    uv_idle_stop(idle);
    static_cast<Connection*>(idle->data)->drain();
  });
}

// Runs inside libuv callbacks, so nothing may escape it: a handler that
// throws (a bug, or an RPC of its own failing) costs the connection, which
// the owner re-establishes; unconfirmed and unacked work is redone.
void Connection::drain() {
  if (state_ == nullptr || draining_) return;
  struct Guard {
    bool& flag;
    ~Guard() { flag = false; }
  } guard{draining_ = true};
  const std::uint64_t generation = generation_;
  while (state_ != nullptr && generation == generation_) {
    amqp_frame_t frame;
    timeval zero{0, 0};
    const int rc = amqp_simple_wait_frame_noblock(state_, &frame, &zero);
    if (rc == AMQP_STATUS_TIMEOUT) break;
    if (rc != AMQP_STATUS_OK) {
      lose(amqp_error_string2(rc));
      return;
    }
    try {
      dispatch(frame);
    } catch (const std::exception& e) {
      lose(fmt::format("a frame handler failed: {}", e.what()));
      return;
    }
  }
  if (state_ != nullptr) amqp_maybe_release_buffers(state_);
}

void Connection::open_channel(amqp_channel_t channel) {
  if (state_ == nullptr) throw InfrastructureError("channel.open: not connected");
  amqp_channel_open(state_, channel);
  check_reply(channel, "channel.open");
}

bool Connection::check_status(int status, std::string_view what) {
  if (status == AMQP_STATUS_OK) return true;
  lose(fmt::format("{}: {}", what, amqp_error_string2(status)));
  return false;
}

void Connection::check_reply(amqp_channel_t channel, std::string_view what) {
  if (state_ == nullptr) throw InfrastructureError(fmt::format("{}: not connected", what));
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
  drain_soon(); // the RPC may have buffered other frames
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
  const std::string text = reply_text(reply);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
    const int code = static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_code;
    amqp_channel_close_ok_t ok{};
    amqp_send_method(state_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    amqp_channel_open(state_, channel);
    if (amqp_get_rpc_reply(state_).reply_type != AMQP_RESPONSE_NORMAL) {
      lose(fmt::format("reopening channel {} failed", channel));
    }
    throw ChannelError(code, fmt::format("{}: {}", what, text));
  }
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
      reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
    amqp_connection_close_ok_t ok{};
    amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  }
  lose(fmt::format("{}: {}", what, text));
  throw InfrastructureError(fmt::format("{}: {}", what, text));
}

} // namespace celeriac::broker
