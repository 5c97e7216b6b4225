// Pool threads and pool children run under SCHED_BATCH (sched(7)), the loop
// thread under the default policy.
//
// A thread of the default policy that is woken preempts the thread running on
// its CPU. On a busy machine, handing a job to a sleeping pool thread (or
// writing it to a child's pipe) therefore used to switch the loop thread out
// in the middle of its turn, once per job, and switch it back in when the job
// was done: a third of the loop's samples were the kernel switching tasks. A
// SCHED_BATCH thread woken up waits for the CPU's current thread to block or
// to use up its slice; apart from that it gets the same share of the CPU
// (same nice value, no privilege needed, inherited by whatever it forks).
// The cost is the start of a job on a saturated machine: it may wait a few
// more milliseconds for the loop to finish its turn (docs/PERFORMANCE.md).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstring>

#include <spdlog/spdlog.h>

namespace celeriac::worker::detail {

// Puts the calling thread under SCHED_BATCH. A failure (a sandbox that forbids
// it) only costs the optimisation, so it is logged at debug level.
inline void run_as_batch() {
  sched_param param{};
  param.sched_priority = 0;
  if (const int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &param); rc != 0)
    spdlog::debug("worker: pool runs under the default scheduling policy ({})", std::strerror(rc));
}

} // namespace celeriac::worker::detail
