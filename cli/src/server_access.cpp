#include "server_access.hpp"

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac::cli {

broker::ConnectionOptions broker_connection_options(const Config& config) {
  broker::ConnectionOptions options;
  options.url = config.broker.url;
  const auto& tls = config.broker.tls;
  options.tls.ca_cert = tls.ca_cert.value_or("");
  options.tls.client_cert = tls.client_cert.value_or("");
  options.tls.client_key = tls.client_key.value_or("");
  options.tls.verify_peer = tls.verify_peer;
  options.tls.verify_hostname = tls.verify_hostname;
  options.heartbeat = std::chrono::duration_cast<std::chrono::seconds>(config.broker.heartbeat);
  options.name = "celeriac-cli";
  return options;
}

std::unique_ptr<pqxx::connection> open_database(const Config& config) {
  try {
    return std::make_unique<pqxx::connection>(config.database.url);
  } catch (const pqxx::broken_connection& e) {
    throw InfrastructureError(fmt::format("cannot connect to the database at {}: {}",
                                          redact_url(config.database.url), e.what()));
  }
}

} // namespace celeriac::cli
