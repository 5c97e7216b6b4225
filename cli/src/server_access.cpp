#include "server_access.hpp"

#include <fmt/format.h>

#include "celeriac/broker/broker_config.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/store/database_url.hpp"

namespace celeriac::cli {

broker::ConnectionOptions broker_connection_options(const Config& config) {
  return broker::broker_options(config, "celeriac-cli").connection;
}

std::unique_ptr<pqxx::connection> open_database(const Config& config) {
  try {
    return std::make_unique<pqxx::connection>(store::with_connect_timeout(config.database.url));
  } catch (const pqxx::broken_connection& e) {
    throw InfrastructureError(fmt::format("cannot connect to the database at {}: {}",
                                          redact_url(config.database.url), e.what()));
  }
}

} // namespace celeriac::cli
