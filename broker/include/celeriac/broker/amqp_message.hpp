// Conversion between core's Message and rabbitmq-c's basic properties.
// to_amqp_properties points into MESSAGE and allocates from POOL: both must
// outlive the publish that uses the result. from_amqp_properties copies.
#pragma once

#include <amqp.h>

#include <optional>
#include <string>

#include "celeriac/core/celery_protocol.hpp"

namespace celeriac::broker {

// MESSAGE_ID, when set, is sent as the AMQP message-id property (the publisher
// uses it to match a basic.return to its publish).
amqp_basic_properties_t to_amqp_properties(const Message& message, amqp_pool_t& pool,
                                           const std::string* message_id = nullptr);

// Fills MESSAGE's properties and headers; returns the message-id property if any.
std::optional<std::string> from_amqp_properties(const amqp_basic_properties_t& props,
                                                Message& message);

inline amqp_bytes_t bytes_view(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

inline std::string to_string(const amqp_bytes_t& b) {
  return b.len == 0 ? std::string() : std::string(static_cast<const char*>(b.bytes), b.len);
}

} // namespace celeriac::broker
