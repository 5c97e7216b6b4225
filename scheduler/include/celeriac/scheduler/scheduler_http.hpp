// SchedulerHttp: `celeriac scheduler --http`, /healthz and /metrics, on a
// thread of cpp-httplib's own; it only reads the Scheduler's metrics.
//   /healthz  200 "leader" or "standby"
//   /metrics  SchedulerMetrics::prometheus_text()
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "celeriac/scheduler/scheduler_metrics.hpp"

namespace httplib {
class Server;
}

namespace celeriac::scheduler {

class SchedulerHttp {
 public:
  // Binds HOST_PORT ("127.0.0.1:9541"; port 0 picks a free one) at once and
  // serves from a thread. Throws InvalidInput("scheduler.http") for a
  // malformed address and InfrastructureError when it cannot be bound.
  SchedulerHttp(const SchedulerMetrics& metrics, const std::string& host_port);
  ~SchedulerHttp(); // stops and joins
  SchedulerHttp(const SchedulerHttp&) = delete;
  SchedulerHttp& operator=(const SchedulerHttp&) = delete;

  int port() const { return port_; }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

} // namespace celeriac::scheduler
