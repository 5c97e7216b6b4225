// What the client sends RabbitMQ, built on the caller's thread so that a
// message that cannot be sent is an InvalidInput before anything is published.
#pragma once

#include <cstdint>

#include "celeriac/broker/broker.hpp"
#include "celeriac/client.hpp"

namespace celeriac::client_detail {

// The Broker's settings from the configuration: its queues (declared on
// connect, with the delay levels), TLS, heartbeat and confirm window. No
// management URL: dead-letter policies are the workers' business.
broker::BrokerOptions broker_options(const Config& config, const ClientOptions& options);

// Celery's broadcast revoke on the control exchange:
// {"method": "revoke", "arguments": {"task_id": ID, "terminate": TERMINATE}}.
broker::Outgoing revoke_message(JobId id, bool terminate);

} // namespace celeriac::client_detail
