// BrokerOptions from the configuration (config.hpp [broker] and [queues]),
// the one mapping the client, the worker and the scheduler share.
#pragma once

#include <string>

#include "celeriac/broker/broker.hpp"
#include "celeriac/core/config.hpp"

namespace celeriac::broker {

// Every configured queue in the topology, the delay levels, TLS, heartbeat,
// confirm window, body limit and management URL. NAME is the connection's
// name in the management UI ("celeriac-worker host:pid").
BrokerOptions broker_options(const Config& config, std::string name);

} // namespace celeriac::broker
