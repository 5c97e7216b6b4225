// How the CLI reaches the servers a configuration names: AMQP connection
// options and a PostgreSQL connection. Connection failures are
// InfrastructureError naming the server with its password masked.
#pragma once

#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "celeriac/broker/connection.hpp"
#include "celeriac/core/config.hpp"

namespace celeriac::cli {

broker::ConnectionOptions broker_connection_options(const Config& config);

std::unique_ptr<pqxx::connection> open_database(const Config& config);

} // namespace celeriac::cli
