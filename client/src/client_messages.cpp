#include "client_messages.hpp"

#include "celeriac/core/control.hpp"

#include <fmt/format.h>

#include "celeriac/broker/broker_config.hpp"
#include "celeriac/broker/delay_routing.hpp"
#include "celeriac/broker/topology.hpp"

namespace celeriac::client_detail {

broker::BrokerOptions broker_options(const Config& config, const ClientOptions& options) {
  broker::BrokerOptions out = broker::broker_options(config, options.connection_name);
  out.connection.timeout = options.connect_timeout;
  // The client sets no dead-letter policies: that is the workers' business,
  // and it would cost every client start an HTTP round trip.
  out.management_url.reset();
  return out;
}

broker::Outgoing job_message(const Job& job, Timestamp now, std::uint64_t max_body_bytes) {
  const Duration delay = job.eta ? *job.eta - now : Duration::zero();
  const bool delayed = delay >= std::chrono::seconds(1); // a shorter wait is the worker's
  broker::Outgoing out;
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
  if (seconds > static_cast<std::int64_t>(broker::kMaxDelaySeconds)) {
    throw InvalidInput("eta", fmt::format("{} is more than {} seconds ahead",
                                          format_iso8601(*job.eta), broker::kMaxDelaySeconds));
  }
  // What Broker::publish_delayed sends: the top level routes by the delay's bits.
  out.exchange = broker::delay_level_name(broker::kDelayLevels - 1);
  out.routing_key = broker::delay_routing_key(static_cast<std::uint32_t>(seconds), job.queue);
  return out;
}

broker::Outgoing revoke_message(JobId id, bool terminate) {
  broker::Outgoing out;
  out.exchange = std::string(broker::kControlExchange);
  out.mandatory = false; // no worker listening is not an error
  out.message.properties.delivery_mode = 1;
  ControlRequest request;
  request.method = "revoke";
  request.arguments = {{"task_id", id.str()}, {"terminate", terminate}};
  out.message.body = encode_control(request);
  return out;
}

} // namespace celeriac::client_detail
