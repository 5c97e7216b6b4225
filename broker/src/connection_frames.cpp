// Connection's frame dispatch: methods the broker sends unasked, and the
// assembly of content (header + body frames) after basic.deliver / basic.return.
#include <fmt/format.h>

#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/connection.hpp"

namespace celeriac::broker {

void Connection::dispatch(const amqp_frame_t& frame) {
  if (frame.frame_type == AMQP_FRAME_METHOD) {
    dispatch_method(frame.channel, frame.payload.method);
  } else if (frame.frame_type == AMQP_FRAME_HEADER || frame.frame_type == AMQP_FRAME_BODY) {
    content_frame(frame);
  }
}

void Connection::dispatch_method(amqp_channel_t channel, const amqp_method_t& method) {
  switch (method.id) {
    case AMQP_BASIC_DELIVER_METHOD:
    case AMQP_BASIC_RETURN_METHOD:
      begin_content(channel, method);
      return;
    case AMQP_CONNECTION_BLOCKED_METHOD:
      blocked_ = true;
      break;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
      blocked_ = false;
      break;
    case AMQP_CHANNEL_CLOSE_METHOD: {
      amqp_channel_close_ok_t ok{};
      amqp_send_method(state_, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
      break;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* m = static_cast<amqp_connection_close_t*>(method.decoded);
      const std::string reason = fmt::format("connection closed by the broker: {} {}",
                                             m->reply_code, to_string(m->reply_text));
      amqp_connection_close_ok_t ok{};
      amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      lose(reason);
      return;
    }
    default:
      break;
  }
  if (handlers_.on_method) handlers_.on_method(channel, method);
}

void Connection::begin_content(amqp_channel_t channel, const amqp_method_t& method) {
  Content content;
  InboundMessage& m = content.message;
  m.method = method.id;
  if (method.id == AMQP_BASIC_DELIVER_METHOD) {
    const auto* d = static_cast<amqp_basic_deliver_t*>(method.decoded);
    m.consumer_tag = to_string(d->consumer_tag);
    m.delivery_tag = d->delivery_tag;
    m.redelivered = d->redelivered != 0;
    m.exchange = to_string(d->exchange);
    m.routing_key = to_string(d->routing_key);
  } else {
    const auto* r = static_cast<amqp_basic_return_t*>(method.decoded);
    m.reply_code = r->reply_code;
    m.reply_text = to_string(r->reply_text);
    m.exchange = to_string(r->exchange);
    m.routing_key = to_string(r->routing_key);
  }
  partial_[channel] = std::move(content);
}

void Connection::content_frame(const amqp_frame_t& frame) {
  auto it = partial_.find(frame.channel);
  if (it == partial_.end()) {
    lose(fmt::format("content frame on channel {} without a method", frame.channel));
    return;
  }
  Content& content = it->second;
  InboundMessage& m = content.message;
  if (frame.frame_type == AMQP_FRAME_HEADER) {
    const auto* props = static_cast<amqp_basic_properties_t*>(frame.payload.properties.decoded);
    m.message_id = from_amqp_properties(*props, m.message);
    m.body_size = frame.payload.properties.body_size;
    content.have_header = true;
    // A body over the cap is never assembled: a hostile 100 MiB message costs nothing.
    m.body_dropped = m.body_size > options_.max_body_bytes;
    if (!m.body_dropped) m.message.body.reserve(m.body_size);
  } else {
    if (!content.have_header) {
      lose(fmt::format("body frame before header on channel {}", frame.channel));
      return;
    }
    const amqp_bytes_t& fragment = frame.payload.body_fragment;
    content.received += fragment.len;
    if (!m.body_dropped)
      m.message.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
  }
  if (!content.have_header || content.received < m.body_size) return;
  InboundMessage done = std::move(content.message);
  partial_.erase(it);
  if (handlers_.on_message) handlers_.on_message(frame.channel, std::move(done));
}

} // namespace celeriac::broker
