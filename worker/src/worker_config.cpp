#include "celeriac/worker/worker_config.hpp"

#include <thread>

#include "celeriac/broker/broker_config.hpp"

namespace celeriac::worker {

WorkerOptions worker_options(const Config& config) {
  WorkerOptions o;
  o.name = default_worker_name();
  o.broker = broker::broker_options(config, "celeriac-worker " + o.name);
  o.store.database_url = config.database.url;
  o.store.schema = config.database.schema;
  const WorkerConfig& w = config.worker;
  o.queues = w.queues;
  o.pool = w.pool;
  o.concurrency = w.concurrency > 0 ? static_cast<std::size_t>(w.concurrency)
                                    : std::max(1u, std::thread::hardware_concurrency());
  o.prefetch = static_cast<std::uint16_t>(std::max(0, w.prefetch));
  o.max_tasks_per_child = static_cast<std::uint64_t>(std::max(0, w.max_tasks_per_child));
  o.max_memory_per_child = w.max_memory_per_child;
  o.shutdown_timeout = w.shutdown_timeout;
  o.http = w.http;
  o.events = w.events;
  return o;
}

} // namespace celeriac::worker
