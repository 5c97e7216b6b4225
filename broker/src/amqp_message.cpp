#include "celeriac/broker/amqp_message.hpp"

#include "celeriac/broker/amqp_table.hpp"

namespace celeriac::broker {

amqp_basic_properties_t to_amqp_properties(const Message& message, amqp_pool_t& pool,
                                           const std::string* message_id) {
  const MessageProperties& p = message.properties;
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                 AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_HEADERS_FLAG;
  props.content_type = bytes_view(p.content_type);
  props.content_encoding = bytes_view(p.content_encoding);
  props.delivery_mode = static_cast<uint8_t>(p.delivery_mode);
  props.priority = static_cast<uint8_t>(p.priority);
  props.headers = to_amqp_table(message.headers, pool);
  if (!p.correlation_id.empty()) {
    props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
    props.correlation_id = bytes_view(p.correlation_id);
  }
  if (p.reply_to) {
    props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
    props.reply_to = bytes_view(*p.reply_to);
  }
  if (p.expiration) {
    props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
    props.expiration = bytes_view(*p.expiration);
  }
  if (message_id != nullptr) {
    props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
    props.message_id = bytes_view(*message_id);
  }
  return props;
}

std::optional<std::string> from_amqp_properties(const amqp_basic_properties_t& props,
                                                Message& message) {
  MessageProperties& p = message.properties;
  const auto has = [&](amqp_flags_t flag) { return (props._flags & flag) != 0; };
  p.content_type = has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? to_string(props.content_type) : "";
  p.content_encoding =
      has(AMQP_BASIC_CONTENT_ENCODING_FLAG) ? to_string(props.content_encoding) : "";
  p.delivery_mode = has(AMQP_BASIC_DELIVERY_MODE_FLAG) ? props.delivery_mode : 1;
  p.priority = has(AMQP_BASIC_PRIORITY_FLAG) ? props.priority : 0;
  p.correlation_id = has(AMQP_BASIC_CORRELATION_ID_FLAG) ? to_string(props.correlation_id) : "";
  p.reply_to.reset();
  if (has(AMQP_BASIC_REPLY_TO_FLAG)) p.reply_to = to_string(props.reply_to);
  p.expiration.reset();
  if (has(AMQP_BASIC_EXPIRATION_FLAG)) p.expiration = to_string(props.expiration);
  message.headers = has(AMQP_BASIC_HEADERS_FLAG) ? from_amqp_table(props.headers) : HeaderTable{};
  if (has(AMQP_BASIC_MESSAGE_ID_FLAG)) return to_string(props.message_id);
  return std::nullopt;
}

} // namespace celeriac::broker
