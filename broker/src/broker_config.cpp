#include "celeriac/broker/broker_config.hpp"

namespace celeriac::broker {
namespace {

TlsOptions tls_options(const BrokerTlsConfig& tls) {
  return TlsOptions{tls.ca_cert.value_or(""), tls.client_cert.value_or(""),
                    tls.client_key.value_or(""), tls.verify_peer, tls.verify_hostname};
}

QueueSpec queue_spec(const QueueConfig& queue) {
  return QueueSpec{queue.name, queue.type == QueueType::Quorum, queue.max_priority.value_or(0)};
}

} // namespace

BrokerOptions broker_options(const Config& config, std::string name) {
  BrokerOptions out;
  out.connection.url = config.broker.url;
  out.connection.tls = tls_options(config.broker.tls);
  out.connection.heartbeat =
      std::chrono::duration_cast<std::chrono::seconds>(config.broker.heartbeat);
  out.connection.name = std::move(name);
  out.management_url = config.broker.management_url;
  for (const auto& queue : config.queues)
    out.topology.queues.push_back(queue_spec(queue));
  out.topology.delays = true;
  out.confirm_window = static_cast<std::size_t>(config.broker.confirm_window);
  out.limits.max_body_bytes = config.broker.max_body_bytes;
  return out;
}

} // namespace celeriac::broker
