// The demo tasks, for tests, benchmarks and scripts/demo:
//   demo.add(a, b)      returns a + b (numbers; anything else is a permanent failure)
//   demo.sleep(seconds) sleeps, checking for cancellation every 10 ms
//   demo.fail(rate)     fails with a transient (network) error with probability RATE
//   demo.crash()        kills its own process (SIGKILL): a pool child dies under its job
//   demo.spin(seconds)  burns CPU and ignores cancellation: only a hard limit stops it
//   demo.note(path)     appends the job's id and '\n' to the file PATH in one O_APPEND
//                       write, so the file counts each job's runs (scripts/chaos counts
//                       the jobs that ran twice); returns null
// Arguments come positionally or by name (kwargs "a", "b", "seconds", "rate", "path").
#pragma once

#include "celeriac/worker/task.hpp"

namespace celeriac::tasks {

void register_demo_tasks(TaskRegistry& registry);

} // namespace celeriac::tasks
