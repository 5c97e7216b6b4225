#include "celeriac/broker/job_message.hpp"

#include <fmt/format.h>

#include "celeriac/broker/delay_routing.hpp"
#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/error.hpp"

namespace celeriac::broker {

Outgoing job_message(const Job& job, Timestamp now, std::uint64_t max_body_bytes) {
  const Duration delay = job.eta ? *job.eta - now : Duration::zero();
  const bool delayed = delay >= std::chrono::seconds(1); // a shorter wait is the worker's
  Outgoing out;
  // A per-message TTL would make a delay level let the message go early, so
  // a delayed job carries its expiry in the headers only (as publish_delayed does).
  out.message = delayed ? encode_job(job) : encode_job(job, now);
  if (out.message.body.size() > max_body_bytes) {
    throw InvalidInput("args", fmt::format("the message body is {} bytes, more than"
                                           " broker.max_body_bytes ({})",
                                           out.message.body.size(), max_body_bytes));
  }
  if (!delayed) {
    out.routing_key = job.queue;
    return out;
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
  if (seconds > static_cast<std::int64_t>(kMaxDelaySeconds)) {
    throw InvalidInput("eta", fmt::format("{} is more than {} seconds ahead",
                                          format_iso8601(*job.eta), kMaxDelaySeconds));
  }
  // What Broker::publish_delayed sends: the top level routes by the delay's bits.
  out.exchange = delay_level_name(kDelayLevels - 1);
  out.routing_key = delay_routing_key(static_cast<std::uint32_t>(seconds), job.queue);
  return out;
}

} // namespace celeriac::broker
