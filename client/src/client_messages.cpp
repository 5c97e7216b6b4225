#include "client_messages.hpp"

#include "celeriac/core/control.hpp"

#include <fmt/format.h>

#include "celeriac/broker/broker_config.hpp"
#include "celeriac/broker/topology.hpp"

namespace celeriac::client_detail {

broker::BrokerOptions broker_options(const Config& config, const ClientOptions& options) {
  broker::BrokerOptions out = broker::broker_options(config, options.connection_name);
  out.connection.timeout = options.connect_timeout;
  // The client sets no dead-letter policies: that is the workers' business,
  // and it would cost every client start an HTTP round trip.
  out.management_url.reset();
  return out;
}

broker::Outgoing revoke_message(JobId id, bool terminate) {
  broker::Outgoing out;
  out.exchange = std::string(broker::kControlExchange);
  out.mandatory = false; // no worker listening is not an error
  out.message.properties.delivery_mode = 1;
  ControlRequest request;
  request.method = "revoke";
  request.arguments = {{"task_id", id.str()}, {"terminate", terminate}};
  out.message.body = encode_control(request);
  return out;
}

} // namespace celeriac::client_detail
