#include "celeriac/scheduler/scheduler_http.hpp"

#include <httplib.h>

#include "celeriac/core/error.hpp"
#include "celeriac/core/host_port.hpp"

namespace celeriac::scheduler {

SchedulerHttp::SchedulerHttp(const SchedulerMetrics& metrics, const std::string& host_port)
    : server_(std::make_unique<httplib::Server>()) {
  const auto address = parse_host_port(host_port);
  if (!address) throw InvalidInput("scheduler.http", "must be HOST:PORT, got '" + host_port + "'");
  const std::string& host = address->host;
  const int port = address->port;
  server_->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus_text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/healthz", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.leader() ? "leader\n" : "standby\n", "text/plain; charset=utf-8");
  });
  port_ =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) throw InfrastructureError("scheduler.http: cannot listen on " + host_port);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

SchedulerHttp::~SchedulerHttp() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

} // namespace celeriac::scheduler
