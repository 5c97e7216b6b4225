#include "celeriac/broker/publisher.hpp"

#include <cassert>
#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/amqp_table.hpp"

namespace celeriac::broker {

std::string_view to_string(PublishStatus status) {
  switch (status) {
    case PublishStatus::Confirmed:
      return "confirmed";
    case PublishStatus::Nacked:
      return "nacked";
    case PublishStatus::Returned:
      return "returned";
    case PublishStatus::Failed:
      return "failed";
  }
  return "?";
}

namespace {

constexpr std::size_t kShortString = 255;
// Properties must fit in one frame (frame_max 131072 is negotiated at login).
constexpr std::size_t kMaxEncodedHeaders = 131072 - 4096;

std::optional<std::string> table_too_long(const HeaderTable& table) {
  for (const auto& [key, value] : table) {
    if (key.size() > kShortString)
      return fmt::format("header name '{:.40}...' over 255 bytes", key);
    if (const auto* inner = value.get_if<HeaderTable>()) {
      if (auto why = table_too_long(*inner)) return why;
    }
  }
  return std::nullopt;
}

// Why AMQP cannot carry O, or nullopt. Checked before a sequence number is
// taken: once basic.publish's method frame is on the wire it cannot be undone.
// Sets TABLE_BYTES to the encoded size of the headers.
std::optional<std::string> unencodable(const Outgoing& o, std::size_t& table_bytes) {
  const MessageProperties& p = o.message.properties;
  for (const std::string* s :
       {&o.exchange, &o.routing_key, &p.content_type, &p.content_encoding, &p.correlation_id}) {
    if (s->size() > kShortString) return fmt::format("'{:.40}...' is over 255 bytes", *s);
  }
  for (const auto* s : {&p.reply_to, &p.expiration}) {
    if (*s && (*s)->size() > kShortString) return "a message property is over 255 bytes";
  }
  if (auto why = table_too_long(o.message.headers)) return why;
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_table_t table = to_amqp_table(o.message.headers, pool);
  std::vector<char> buffer(kMaxEncodedHeaders);
  std::size_t offset = 0;
  const int rc = amqp_encode_table(amqp_bytes_t{buffer.size(), buffer.data()}, &table, &offset);
  empty_amqp_pool(&pool);
  if (rc != AMQP_STATUS_OK) return "headers are larger than one AMQP frame";
  table_bytes = offset;
  return std::nullopt;
}

constexpr std::size_t kFrameOverhead = 8; // type, channel, size, end octet

// What O's frames take on the wire, a little over: the method and header
// frames, and with BODY_FRAMES the body's. The estimate the connection checks
// for room before writing.
std::size_t wire_size(const Outgoing& o, std::size_t table_bytes, std::size_t body_frames) {
  constexpr std::size_t kFixedFields = 512; // method and property fields besides names and headers
  const MessageProperties& p = o.message.properties;
  const std::size_t optional =
      (p.reply_to ? p.reply_to->size() : 0) + (p.expiration ? p.expiration->size() : 0);
  const std::size_t body = body_frames == 0 ? 0 : o.message.body.size();
  return kFixedFields + o.exchange.size() + o.routing_key.size() + p.content_type.size() +
         p.content_encoding.size() + p.correlation_id.size() + optional + table_bytes + body +
         (2 + body_frames) * kFrameOverhead;
}

} // namespace

Publisher::Publisher(Connection& connection, amqp_channel_t channel, std::size_t window)
    : connection_(connection), channel_(channel), window_(window == 0 ? 1 : window) {
  init_amqp_pool(&pool_, 4096);
  deferred_idle_ = new uv_idle_t;
  uv_idle_init(connection_.loop(), deferred_idle_);
  deferred_idle_->data = this;
}

Publisher::~Publisher() {
  connection_.cancel_wait_writable();
  empty_amqp_pool(&pool_);
  uv_close(reinterpret_cast<uv_handle_t*>(deferred_idle_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
}

void Publisher::fail_later(PublishCallback done, std::string reason) {
  deferred_.emplace_back(std::move(done), PublishResult{PublishStatus::Failed, std::move(reason)});
  uv_idle_start(deferred_idle_, [](uv_idle_t* idle) {
    uv_idle_stop(idle);
    auto* self = static_cast<Publisher*>(idle->data);
    auto ready = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& [callback, result] : ready) {
      if (callback) callback(result);
    }
  });
}

// Messages left unconfirmed by a connection that went away without
// on_connection_lost (closed after a failed reconnect step) go back in front.
void Publisher::requeue_unconfirmed() {
  streaming_.reset(); // a half-sent body dies with its channel; the message goes again whole
  for (auto it = unconfirmed_.rbegin(); it != unconfirmed_.rend(); ++it) {
    it->second.returned = false;
    waiting_.push_front(std::move(it->second));
  }
  unconfirmed_.clear();
}

void Publisher::start() {
  requeue_unconfirmed();
  closed_ = false;
  connection_.open_channel(channel_);
  amqp_confirm_select(connection_.native(), channel_);
  connection_.check_reply(channel_, "confirm.select");
  next_seq_ = 1;
  started_ = true;
  flush();
}

void Publisher::stop(const std::string& reason) {
  started_ = false;
  streaming_.reset();
  closed_ = true;
  std::deque<InFlight> outstanding;
  for (auto& [tag, flight] : unconfirmed_)
    outstanding.push_back(std::move(flight));
  unconfirmed_.clear();
  for (auto& flight : waiting_)
    outstanding.push_back(std::move(flight));
  waiting_.clear();
  for (auto& flight : outstanding) {
    if (flight.outgoing.done) flight.outgoing.done({PublishStatus::Failed, reason});
  }
  empty_amqp_pool(&pool_);
}

void Publisher::publish(Outgoing outgoing) {
  if (closed_) {
    fail_later(std::move(outgoing.done), "the publisher is stopped");
    return;
  }
  std::size_t table_bytes = 0;
  if (auto why = unencodable(outgoing, table_bytes)) {
    fail_later(std::move(outgoing.done), "cannot be sent over AMQP: " + *why);
    return;
  }
  waiting_.push_back(InFlight{std::move(outgoing), false, {}, false, table_bytes});
  flush();
}

// Never writes more than the socket can take now (rabbitmq-c would wait for
// the broker inside the call, with the loop stopped): what does not fit
// waits until the socket drains. A body of more than one frame goes out frame
// by frame as room appears (stream_body), so even a message larger than the
// socket can hold at all never blocks; nothing else starts on the channel
// until its last frame is out.
void Publisher::flush() {
  if (streaming_ && !stream_body()) return;
  while (started_ && connection_.is_open() && !connection_.blocked() && !waiting_.empty() &&
         unconfirmed_.size() < window_) {
    const InFlight& next = waiting_.front();
    const bool framed = next.outgoing.message.body.size() > body_per_frame();
    const std::size_t bytes = wire_size(next.outgoing, next.table_bytes, framed ? 0 : 1);
    if (!connection_.reserve_send(bytes)) {
      connection_.wait_writable(bytes, [this] { flush(); });
      break;
    }
    const std::uint64_t seq = next_seq_++;
    auto [it, inserted] = unconfirmed_.try_emplace(seq, std::move(waiting_.front()));
    assert(inserted && "confirm sequence numbers restart only with an empty unconfirmed map");
    waiting_.pop_front();
    if (!send(it->second, seq, framed))
      return; // the connection is gone; on_connection_lost requeued
    if (framed) {
      streaming_ = Streaming{seq, 0};
      if (!stream_body()) return;
    }
  }
  connection_.drain_soon();
}

std::size_t Publisher::body_per_frame() const {
  const auto frame_max = static_cast<std::size_t>(amqp_get_frame_max(connection_.native()));
  return frame_max > 4096 ? frame_max - kFrameOverhead : 4096 - kFrameOverhead;
}

// Sends FLIGHT whole, or with HEAD_ONLY its method and header frames (the
// body then goes out through stream_body).
bool Publisher::send(InFlight& flight, std::uint64_t seq, bool head_only) {
  if (flight.resent) ++republished_;
  flight.resent = true;
  const std::string message_id = std::to_string(seq);
  recycle_amqp_pool(&pool_);
  const Outgoing& o = flight.outgoing;
  amqp_basic_properties_t props = to_amqp_properties(o.message, pool_, &message_id);
  if (!head_only) {
    const int rc = amqp_basic_publish(connection_.native(), channel_, bytes_view(o.exchange),
                                      bytes_view(o.routing_key), o.mandatory ? 1 : 0, 0, &props,
                                      bytes_view(o.message.body));
    return connection_.check_status(rc, "basic.publish");
  }
  amqp_basic_publish_t method{};
  method.exchange = bytes_view(o.exchange);
  method.routing_key = bytes_view(o.routing_key);
  method.mandatory = o.mandatory ? 1 : 0;
  const int rc =
      amqp_send_method(connection_.native(), channel_, AMQP_BASIC_PUBLISH_METHOD, &method);
  if (!connection_.check_status(rc, "basic.publish")) return false;
  amqp_frame_t header{};
  header.frame_type = AMQP_FRAME_HEADER;
  header.channel = channel_;
  header.payload.properties.class_id = AMQP_BASIC_CLASS;
  header.payload.properties.body_size = o.message.body.size();
  header.payload.properties.decoded = &props;
  return connection_.check_status(amqp_send_frame(connection_.native(), &header),
                                  "basic.publish (content header)");
}

// Sends the streaming message's body frames while the socket has room: true
// once the last is out, false while one waits for room (or the connection
// was lost, which requeues the message whole).
bool Publisher::stream_body() {
  const std::string& body = unconfirmed_.at(streaming_->seq).outgoing.message.body;
  const std::size_t per_frame = body_per_frame();
  while (streaming_->offset < body.size()) {
    const std::size_t n = std::min(per_frame, body.size() - streaming_->offset);
    if (!connection_.reserve_send(n + kFrameOverhead)) {
      connection_.wait_writable(n + kFrameOverhead, [this] { flush(); });
      return false;
    }
    amqp_frame_t frame{};
    frame.frame_type = AMQP_FRAME_BODY;
    frame.channel = channel_;
    frame.payload.body_fragment =
        amqp_bytes_t{n, const_cast<char*>(body.data()) + streaming_->offset};
    if (!connection_.check_status(amqp_send_frame(connection_.native(), &frame),
                                  "basic.publish (body)")) {
      return false;
    }
    streaming_->offset += n;
  }
  streaming_.reset();
  return true;
}

void Publisher::complete(std::uint64_t tag, bool multiple, PublishStatus status) {
  auto end = multiple ? unconfirmed_.upper_bound(tag) : unconfirmed_.find(tag);
  auto begin = multiple ? unconfirmed_.begin() : end;
  if (!multiple && end != unconfirmed_.end()) end = std::next(end);
  std::deque<InFlight> done;
  for (auto it = begin; it != end; ++it)
    done.push_back(std::move(it->second));
  unconfirmed_.erase(begin, end);
  for (auto& flight : done) {
    PublishStatus final_status = status;
    std::string detail;
    if (flight.returned) {
      final_status = PublishStatus::Returned;
      detail = flight.return_text;
    }
    if (flight.outgoing.done) flight.outgoing.done({final_status, std::move(detail)});
  }
  flush();
}

void Publisher::on_method(const amqp_method_t& method) {
  if (method.id == AMQP_BASIC_ACK_METHOD) {
    const auto* ack = static_cast<amqp_basic_ack_t*>(method.decoded);
    complete(ack->delivery_tag, ack->multiple != 0, PublishStatus::Confirmed);
  } else if (method.id == AMQP_BASIC_NACK_METHOD) {
    const auto* nack = static_cast<amqp_basic_nack_t*>(method.decoded);
    complete(nack->delivery_tag, nack->multiple != 0, PublishStatus::Nacked);
  } else if (method.id == AMQP_CONNECTION_UNBLOCKED_METHOD) {
    flush();
  } else if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
    on_channel_closed(method);
  }
}

// The broker closed the channel (e.g. a publish to a missing exchange). Which
// unconfirmed message caused it is unknowable, and resending them all could
// close it again forever, so they fail with the broker's reason; the waiting
// ones go out on the reopened channel.
void Publisher::on_channel_closed(const amqp_method_t& method) {
  const auto* close = static_cast<amqp_channel_close_t*>(method.decoded);
  const std::string reason = fmt::format("channel closed by the broker: {} {}", close->reply_code,
                                         to_string(close->reply_text));
  std::map<std::uint64_t, InFlight> failed;
  failed.swap(unconfirmed_);
  streaming_.reset();
  for (auto& [tag, flight] : failed) {
    if (flight.outgoing.done) flight.outgoing.done({PublishStatus::Failed, reason});
  }
  started_ = false;
  if (connection_.is_open()) start();
}

void Publisher::on_return(InboundMessage&& returned) {
  if (!returned.message_id) return;
  std::uint64_t seq = 0;
  const std::string& id = *returned.message_id;
  if (std::from_chars(id.data(), id.data() + id.size(), seq).ec != std::errc{}) return;
  auto it = unconfirmed_.find(seq);
  if (it == unconfirmed_.end()) return;
  it->second.returned = true;
  it->second.return_text =
      fmt::format("{} {} (exchange '{}', routing key '{}')", returned.reply_code,
                  returned.reply_text, returned.exchange, returned.routing_key);
}

void Publisher::on_connection_lost() {
  started_ = false;
  requeue_unconfirmed(); // in front of those never sent, in publish order
}

} // namespace celeriac::broker
