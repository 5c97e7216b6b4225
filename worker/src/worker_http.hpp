// WorkerHttp: the worker's `--http` endpoint, /healthz and /metrics, on a
// thread of cpp-httplib's own; it only reads WorkerMetrics.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "celeriac/worker/worker_metrics.hpp"

namespace httplib {
class Server;
}

namespace celeriac::worker::detail {

class WorkerHttp {
 public:
  // Binds HOST_PORT ("127.0.0.1:9100"; port 0 picks a free one) at once and
  // serves from a thread. Throws InvalidInput for a malformed address and
  // InfrastructureError when the address cannot be bound.
  WorkerHttp(const WorkerMetrics& metrics, const std::string& host_port);
  ~WorkerHttp(); // stops and joins
  WorkerHttp(const WorkerHttp&) = delete;
  WorkerHttp& operator=(const WorkerHttp&) = delete;

  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

} // namespace celeriac::worker::detail
