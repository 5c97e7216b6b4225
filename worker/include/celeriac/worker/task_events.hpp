// TaskEvents: Celery's event stream, sent with `celeriac worker -E` so that
// Flower and `celery events` can follow celeriac's workers (DESIGN.md
// "RabbitMQ topology"). Each event is a JSON message on the celeryev topic
// exchange, routed by its type with '-' turned into '.' ("task.succeeded"),
// with the fields Celery's own worker sends:
//
//   every event      type, hostname, pid, clock, timestamp (Unix seconds), utcoffset
//   task-received    uuid, name, args, kwargs (as repr text), retries, eta, expires,
//                    root_id, parent_id
//   task-started     uuid
//   task-succeeded   uuid, result (JSON text), runtime (seconds)
//   task-failed      uuid, exception, traceback
//   task-retried     uuid, exception, traceback
//   task-revoked     uuid, terminated, expired
//   worker-online, worker-heartbeat, worker-offline
//                    freq, sw_ident, sw_ver, sw_sys, active, processed, loadavg
//
// Events are transient and best effort: they are published without waiting
// for anything, and one the broker refuses is only logged at debug level.
// Threading: the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "celeriac/broker/job_broker.hpp"
#include "celeriac/core/job.hpp"

namespace celeriac::worker {

struct EventSource {
  std::string hostname; // the worker's name, "host:pid"
  int pid = 0;
};

// The message of one event of TYPE with FIELDS (plus the fields every event has).
broker::Outgoing event_message(const std::string& type, nlohmann::json fields,
                               const EventSource& source, Timestamp now, std::uint64_t clock);

class TaskEvents {
 public:
  TaskEvents(broker::JobBroker& broker, EventSource source, std::function<Timestamp()> clock);

  void received(const Job& job);
  void started(const Job& job);
  void succeeded(const Job& job, const nlohmann::json& result, double runtime);
  void failed(const Job& job, const std::string& exception);
  void retried(const Job& job, const std::string& exception);
  void revoked(const Job& job, bool terminated, bool expired);
  // TYPE: "worker-online", "worker-heartbeat" or "worker-offline".
  void worker(const std::string& type, std::uint64_t active, std::uint64_t processed);

 private:
  void send(const std::string& type, nlohmann::json fields);

  broker::JobBroker& broker_;
  EventSource source_;
  std::function<Timestamp()> now_;
  std::uint64_t clock_ = 0; // Celery's logical clock: one tick per event sent
};

} // namespace celeriac::worker
