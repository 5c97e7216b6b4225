// Side A of publish_bench: the simplest fast correct confirming publisher
// written against rabbitmq-c alone. It fills the window, then blocks for the
// broker's next frame, takes whatever else rabbitmq-c already holds without
// another system call, and fills the window again.
#include "bare_amqp.hpp"

#include <amqp_tcp_socket.h>
#include <fmt/format.h>

#include <stdexcept>
#include <vector>

namespace celeriac::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string describe(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return fmt::format("channel closed: {} {}", close->reply_code,
                           std::string_view(static_cast<const char*>(close->reply_text.bytes),
                                            close->reply_text.len));
      }
      return fmt::format("server method {:#x}", reply.reply.id);
  }
  return "unknown reply";
}

amqp_bytes_t bytes_of(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

} // namespace

BareConnection::BareConnection(const std::string& url, std::chrono::seconds heartbeat)
    : state_(amqp_new_connection()) {
  std::string buffer = url; // amqp_parse_url cuts it up in place
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  try {
    if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
      throw std::runtime_error("CELERIAC_BROKER_URL is not an amqp:// URL");
    }
    if (info.ssl != 0) throw std::runtime_error("publish_bench speaks plain amqp:// only");
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    const int rc =
        socket == nullptr ? AMQP_STATUS_NO_MEMORY : amqp_socket_open(socket, info.host, info.port);
    if (rc != AMQP_STATUS_OK) {
      throw std::runtime_error(
          fmt::format("cannot connect to {}:{}: {}", info.host, info.port, amqp_error_string2(rc)));
    }
    const amqp_rpc_reply_t login =
        amqp_login(state_, info.vhost, 0, 131072, static_cast<int>(heartbeat.count()),
                   AMQP_SASL_METHOD_PLAIN, info.user, info.password);
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      throw std::runtime_error(
          fmt::format("login to {}:{} failed: {}", info.host, info.port, describe(login)));
    }
    amqp_channel_open(state_, kChannel);
    check("channel.open");
  } catch (...) {
    amqp_destroy_connection(state_);
    throw;
  }
}

BareConnection::~BareConnection() {
  amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(state_);
}

void BareConnection::check(const char* what) const {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    throw std::runtime_error(fmt::format("{} failed: {}", what, describe(reply)));
  }
}

void declare_queue(BareConnection& connection, const std::string& queue) {
  amqp_table_entry_t max_priority{amqp_cstring_bytes("x-max-priority"), {}};
  max_priority.value.kind = AMQP_FIELD_KIND_I32;
  max_priority.value.value.i32 = 9;
  amqp_queue_declare(connection.native(), BareConnection::kChannel, bytes_of(queue), 0, 1, 0, 0,
                     amqp_table_t{1, &max_priority});
  connection.check("queue.declare");
}

std::uint32_t purge_queue(BareConnection& connection, const std::string& queue) {
  const amqp_queue_purge_ok_t* ok =
      amqp_queue_purge(connection.native(), BareConnection::kChannel, bytes_of(queue));
  connection.check("queue.purge");
  return ok->message_count;
}

void delete_queue(BareConnection& connection, const std::string& queue) {
  amqp_queue_delete(connection.native(), BareConnection::kChannel, bytes_of(queue), 0, 0);
  connection.check("queue.delete");
}

namespace {

// Which delivery tags (1..count) the broker has settled, so that a repeated or
// overlapping multiple=true ack never counts a message twice.
class SettledTags {
 public:
  explicit SettledTags(std::uint64_t count) : settled_(count + 1, false) {}

  // Settles TAG, or every tag up to TAG when MULTIPLE; returns how many were new.
  std::uint64_t settle(std::uint64_t tag, bool multiple) {
    if (tag >= settled_.size()) return 0;
    std::uint64_t fresh = 0;
    for (std::uint64_t t = multiple ? lowest_ : tag; t <= tag; ++t) {
      if (!settled_[t]) ++fresh;
      settled_[t] = true;
    }
    while (lowest_ < settled_.size() && settled_[lowest_])
      ++lowest_;
    return fresh;
  }

 private:
  std::vector<bool> settled_;
  std::uint64_t lowest_ = 1; // every tag below it is settled
};

struct BareRun {
  const RunSpec& spec;
  amqp_connection_state_t state;
  std::string body = make_body(spec.size);
  amqp_basic_properties_t props{};
  SettledTags tags{spec.messages};
  std::uint64_t published = 0;
  std::uint64_t settled = 0;
  RunResult result;

  BareRun(const RunSpec& s, amqp_connection_state_t st) : spec(s), state(st) {
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                   AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.content_encoding = amqp_cstring_bytes("utf-8");
    props.delivery_mode = 2;
  }
};

bool publish_one(BareRun& run) {
  run.props.priority = static_cast<std::uint8_t>(run.published % 10);
  const int rc = amqp_basic_publish(run.state, BareConnection::kChannel, amqp_empty_bytes,
                                    bytes_of(run.spec.queue), 1, 0, &run.props, bytes_of(run.body));
  if (rc != AMQP_STATUS_OK) {
    run.result.problem = fmt::format("basic.publish: {}", amqp_error_string2(rc));
    return false;
  }
  ++run.published;
  return true;
}

// Counts what FRAME settles; false when the broker said something that ends the run.
bool take_frame(BareRun& run, const amqp_frame_t& frame) {
  if (frame.frame_type != AMQP_FRAME_METHOD) return true; // content of a basic.return
  const amqp_method_t& method = frame.payload.method;
  if (method.id == AMQP_BASIC_ACK_METHOD) {
    const auto* ack = static_cast<amqp_basic_ack_t*>(method.decoded);
    const std::uint64_t fresh = run.tags.settle(ack->delivery_tag, ack->multiple != 0);
    run.result.confirmed += fresh;
    run.settled += fresh;
  } else if (method.id == AMQP_BASIC_NACK_METHOD) {
    const auto* nack = static_cast<amqp_basic_nack_t*>(method.decoded);
    const std::uint64_t fresh = run.tags.settle(nack->delivery_tag, nack->multiple != 0);
    run.result.nacked += fresh;
    run.settled += fresh;
  } else if (method.id == AMQP_BASIC_RETURN_METHOD) {
    ++run.result.returned; // its ack follows and still settles it
  } else {
    run.result.problem = fmt::format("unexpected method {:#x} from the broker", method.id);
    return false;
  }
  return true;
}

enum class Read { Frame, Nothing, Broken };

// Reads one frame, waiting at most TIMEOUT.
Read read_frame(BareRun& run, timeval timeout) {
  amqp_frame_t frame;
  const int rc = amqp_simple_wait_frame_noblock(run.state, &frame, &timeout);
  if (rc == AMQP_STATUS_TIMEOUT) return Read::Nothing;
  if (rc != AMQP_STATUS_OK) {
    run.result.problem = fmt::format("reading from the broker: {}", amqp_error_string2(rc));
    return Read::Broken;
  }
  return take_frame(run, frame) ? Read::Frame : Read::Broken;
}

bool holds_frames(amqp_connection_state_t state) {
  return amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0;
}

void publish_all(BareRun& run) {
  const timeval stall{kStallTimeout.count(), 0};
  while (run.settled < run.spec.messages) {
    while (run.published < run.spec.messages && run.published - run.settled < run.spec.window) {
      if (!publish_one(run)) return;
    }
    const Read first = read_frame(run, stall); // the window is full, or everything is sent
    if (first == Read::Broken) return;
    if (first == Read::Nothing) {
      run.result.problem = fmt::format("no confirmation for {} s", kStallTimeout.count());
      return;
    }
    while (holds_frames(run.state)) {
      if (read_frame(run, timeval{0, 0}) != Read::Frame) break;
    }
    if (!run.result.problem.empty()) return;
  }
}

} // namespace

RunResult run_bare_publisher(const RunSpec& spec) {
  BareConnection connection(spec.url, std::chrono::seconds(30));
  amqp_confirm_select(connection.native(), BareConnection::kChannel);
  connection.check("confirm.select");
  BareRun run(spec, connection.native());
  const auto start = Clock::now();
  const auto cpu_start = process_cpu();
  publish_all(run);
  run.result.elapsed = Clock::now() - start;
  run.result.cpu = process_cpu() - cpu_start;
  return run.result;
}

} // namespace celeriac::bench
