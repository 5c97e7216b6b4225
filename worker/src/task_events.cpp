#include "celeriac/worker/task_events.hpp"

#include <sys/utsname.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "celeriac/broker/topology.hpp"

namespace celeriac::worker {
namespace {

using nlohmann::json;

// Heartbeats go out every 2 s (the worker's presence beat).
constexpr double kHeartbeatSeconds = 2.0;

double unix_seconds(Timestamp t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

json optional_time(const std::optional<Timestamp>& t) {
  return t ? json(format_iso8601(*t)) : json(nullptr);
}

json optional_id(const std::optional<JobId>& id) {
  return id ? json(id->str()) : json(nullptr);
}

std::string system_name() {
  utsname name{};
  return ::uname(&name) == 0 ? name.sysname : "Linux";
}

json load_average() {
  double load[3] = {0, 0, 0};
  const int n = ::getloadavg(load, 3);
  json out = json::array();
  for (int i = 0; i < 3; ++i)
    out.push_back(i < n ? load[i] : 0.0);
  return out;
}

} // namespace

broker::Outgoing event_message(const std::string& type, json fields, const EventSource& source,
                               Timestamp now, std::uint64_t clock) {
  fields["type"] = type;
  fields["hostname"] = source.hostname;
  fields["pid"] = source.pid;
  fields["clock"] = clock;
  fields["timestamp"] = unix_seconds(now);
  fields["utcoffset"] = 0;
  broker::Outgoing out;
  out.exchange = std::string(broker::kEventsExchange);
  out.routing_key = type;
  std::replace(out.routing_key.begin(), out.routing_key.end(), '-', '.');
  out.mandatory = false; // no monitor listening is not an error
  out.message.properties.delivery_mode = 1;
  out.message.headers.set("hostname", source.hostname);
  out.message.body = fields.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

TaskEvents::TaskEvents(broker::JobBroker& broker, EventSource source,
                       std::function<Timestamp()> clock)
    : broker_(broker), source_(std::move(source)), now_(std::move(clock)) {}

void TaskEvents::received(const Job& job) {
  send("task-received", {{"uuid", job.id.str()},
                         {"name", job.task},
                         {"args", job.argsrepr.value_or(job.args.dump())},
                         {"kwargs", job.kwargsrepr.value_or(job.kwargs.dump())},
                         {"retries", job.retries},
                         {"eta", optional_time(job.eta)},
                         {"expires", optional_time(job.expires)},
                         {"root_id", optional_id(job.root_id)},
                         {"parent_id", optional_id(job.parent_id)}});
}

void TaskEvents::started(const Job& job) {
  send("task-started", {{"uuid", job.id.str()}});
}

void TaskEvents::succeeded(const Job& job, const json& result, double runtime) {
  send("task-succeeded", {{"uuid", job.id.str()},
                          {"result", result.dump(-1, ' ', false, json::error_handler_t::replace)},
                          {"runtime", runtime}});
}

void TaskEvents::failed(const Job& job, const std::string& exception) {
  send("task-failed", {{"uuid", job.id.str()}, {"exception", exception}, {"traceback", ""}});
}

void TaskEvents::retried(const Job& job, const std::string& exception) {
  send("task-retried", {{"uuid", job.id.str()}, {"exception", exception}, {"traceback", ""}});
}

void TaskEvents::revoked(const Job& job, bool terminated, bool expired) {
  send("task-revoked", {{"uuid", job.id.str()},
                        {"terminated", terminated},
                        {"signum", terminated ? json(15) : json(nullptr)},
                        {"expired", expired}});
}

void TaskEvents::worker(const std::string& type, std::uint64_t active, std::uint64_t processed) {
  send(type, {{"freq", kHeartbeatSeconds},
              {"sw_ident", "celeriac"},
              {"sw_ver", "0.1"},
              {"sw_sys", system_name()},
              {"active", active},
              {"processed", processed},
              {"loadavg", load_average()}});
}

void TaskEvents::send(const std::string& type, json fields) {
  broker::Outgoing out = event_message(type, std::move(fields), source_, now_(), ++clock_);
  out.done = [type](const broker::PublishResult& result) {
    if (result.status != broker::PublishStatus::Confirmed)
      spdlog::debug("worker: event {} not sent: {}", type, result.detail);
  };
  broker_.publish(std::move(out));
}

} // namespace celeriac::worker
