// A job as the message that carries it: what the client and the scheduler
// publish. Built on the caller's thread, so that a job that cannot be sent is
// an InvalidInput before anything is published.
#pragma once

#include <cstdint>

#include "celeriac/broker/broker.hpp"
#include "celeriac/core/job.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac::broker {

// JOB as a message to its queue, or to the delay levels when its eta is a
// second or more after NOW (a shorter wait is the worker's). Throws
// InvalidInput when the body exceeds MAX_BODY_BYTES (workers would refuse
// it), the JSON is not valid UTF-8, or the eta is beyond the longest delay.
Outgoing job_message(const Job& job, Timestamp now, std::uint64_t max_body_bytes);

} // namespace celeriac::broker
