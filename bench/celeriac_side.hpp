// Side B of publish_bench: celeriac's broker::Publisher on a libuv loop.
#pragma once

#include "publish_run.hpp"

namespace celeriac::bench {

// Publishes SPEC.messages celeriac Messages (the same properties and body as
// side A) through a broker::Publisher with window SPEC.window, on a Connection
// and loop of its own, and runs the loop until every publish completed.
// Connecting and confirm.select are not timed. Throws InfrastructureError when
// it cannot connect.
RunResult run_celeriac_publisher(const RunSpec& spec);

} // namespace celeriac::bench
