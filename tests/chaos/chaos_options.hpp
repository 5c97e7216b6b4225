// What one run of the chaos driver (scripts/chaos, docs/chaos.md) does: its
// phases, sizes and bounds, from its flags and the private servers' variables.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace celeriac::chaos {

using Seconds = std::chrono::duration<double>;

struct ChaosOptions {
  std::string celeriac; // the `celeriac` binary
  std::string services; // scripts/services
  std::vector<std::string> phases{"kills", "restarts", "poison"};
  int jobs = 20'000;     // enqueued per phase
  Seconds duration{60};  // the enqueueing is spread over this long
  Seconds deadline{420}; // everything a phase does, waits included
  Seconds kill_min{2};   // the killer's pause between SIGKILLs: uniform in [min, max]
  Seconds kill_max{5};
  Seconds outage{3};     // how long a stopped server stays down
  int poison_rounds = 3; // each kind of poison message, this many times
  int workers = 2;
  int concurrency = 2;        // each worker's pool size
  unsigned seed = 0;          // 0: a random seed (printed, to replay the killer's choices)
  bool keep = false;          // keep the schema, queues and logs afterwards
  std::string broker_url;     // CELERIAC_BROKER_URL
  std::string database_url;   // CELERIAC_DATABASE_URL
  std::string management_url; // CELERIAC_MANAGEMENT_URL (optional)
};

} // namespace celeriac::chaos
