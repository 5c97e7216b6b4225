// WorkerOptions from the configuration: [worker] (queues, concurrency, pool,
// prefetch, recycling, shutdown timeout), [broker], [database] and [queues].
// The child executable and its arguments are the caller's (the binary that
// runs the worker knows how to start itself in child mode).
#pragma once

#include "celeriac/core/config.hpp"
#include "celeriac/worker/worker.hpp"

namespace celeriac::worker {

// Concurrency 0 in the config means the number of cores.
WorkerOptions worker_options(const Config& config);

} // namespace celeriac::worker
