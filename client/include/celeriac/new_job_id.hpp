// new_job_id(): a fresh random (version 4) job id, the one the client gives
// every job it enqueues. Safe from any thread, and across fork(): a child
// never repeats its parent's ids.
#pragma once

#include "celeriac/core/job_id.hpp"

namespace celeriac {

// From the kernel's generator (getrandom), read 4 KiB at a time per thread.
// Throws InfrastructureError if the kernel refuses.
JobId new_job_id();

} // namespace celeriac
