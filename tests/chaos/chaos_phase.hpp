// One phase of the chaos run (docs/chaos.md): a scratch schema and queue
// names of its own, two `celeriac worker` processes, a paced stream of jobs,
// the phase's faults (kills, server restarts, poison messages), and at the
// end the verdict from the store, the jobs' own notes and the dead-letter
// queues. Bounded: after options.deadline it stops waiting and reports what
// is missing.
#pragma once

#include <string>
#include <vector>

#include "chaos_options.hpp"

namespace celeriac::chaos {

struct PhaseVerdict {
  bool pass = false;
  std::string line;                 // "chaos kills: 20000 enqueued, ... — PASS"
  std::vector<std::string> details; // reasons, exits, what is missing
};

// PHASE is "kills", "restarts" or "poison".
PhaseVerdict run_phase(const ChaosOptions& options, const std::string& phase);

} // namespace celeriac::chaos
