// A phase's verdict, from what the phase saw: the jobs it enqueued, the rows
// of its schema's jobs table, the lines of the notes file, the poison it sent,
// the dead letters it drained and what became of its workers. Pure: no I/O,
// so chaos_verdict_test can check that each kind of loss fails the phase.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "chaos_phase.hpp"
#include "job_mix.hpp"
#include "phase_store.hpp"
#include "poison.hpp"
#include "worker_fleet.hpp"

namespace celeriac::chaos {

struct VerdictInput {
  std::string phase;
  int jobs_wanted = 0;                               // --jobs
  std::unordered_map<std::string, JobKind> expected; // enqueued and confirmed, by id
  std::vector<JobRow> rows;                          // the jobs table
  std::unordered_map<std::string, int> notes;        // demo.note's lines, by id
  std::vector<PoisonMessage> poison;                 // sent
  DeadLetters dead;                                  // drained
  FleetReport fleet;
  int workers = 0;
  bool faults_failed = false; // a server did not stop or start
  double seconds = 0;
};

PhaseVerdict judge(const VerdictInput& in);

} // namespace celeriac::chaos
