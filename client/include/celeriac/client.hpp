// celeriac::Client: enqueue jobs from an application and follow them
// (docs/client.md).
//
//   celeriac::Client client(config);
//   JobId id = client.enqueue("reports.build", {42}, {{"format", "pdf"}});
//   store::JobRecord done = client.wait(id, std::chrono::seconds(30));
//
// Threading: every method may be called from any thread, concurrently. The
// client owns one loop thread, which alone touches the RabbitMQ connection:
// enqueue() hands its messages to that thread (a queue plus uv_async_send) and
// blocks until the broker has confirmed them. Database calls share one
// connection under a mutex, except wait(), which borrows a connection of its
// own from a small pool so that a long wait blocks no one else.
//
// Delivery: enqueue() returns only after the broker confirmed the message
// (publisher confirms, pipelined); with track_pending, the job's PENDING row
// has been committed before the message was published. At least once: if the
// connection drops before the confirm, the message is sent again on the next
// connection, and a worker may see it twice (the job id makes that harmless).
//
// Errors (core/error.hpp): bad arguments throw InvalidInput naming the field
// ("priority", "queue", "requests[3].kwargs") before anything is written or
// published; a broker that refuses or loses a message throws PublishError; an
// unreachable server throws InfrastructureError; wait() throws WaitTimeout;
// result() throws JobFailed for a FAILURE or REVOKED job.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "celeriac/core/config.hpp"
#include "celeriac/core/control.hpp"
#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/job_state.hpp"
#include "celeriac/core/time.hpp"
#include "celeriac/store/job_records.hpp"

namespace celeriac {

struct ClientOptions {
  // Write a PENDING row (through store::apply_changes) before publishing, so
  // status() knows a job from the moment enqueue() returns. nullopt: the
  // configuration's database.track_pending.
  std::optional<bool> track_pending;
  // How long the constructor may take to reach the broker (and, with
  // track_pending, the database) before it throws InfrastructureError.
  std::chrono::milliseconds connect_timeout{5000};
  // How long enqueue() and revoke() wait for the broker's confirm. Past it,
  // enqueue() throws PublishError (Failed), though the message stays queued in
  // the client and may still be published if the broker comes back.
  std::chrono::milliseconds publish_timeout{30000};
  // connection_name shown in RabbitMQ's management UI.
  std::string connection_name = "celeriac-client";
};

// One job of enqueue_many().
struct EnqueueRequest {
  std::string task;
  nlohmann::json args = nlohmann::json::array();
  nlohmann::json kwargs = nlohmann::json::object();
  EnqueueOptions options;
};

struct RevokeOptions {
  bool terminate = false;         // ask the worker running it to kill it (Celery's terminate)
  std::string reason = "revoked"; // kept with the revoke and in the job's error_message
  // How long workers must remember the revoke; nullopt: until purged by hand,
  // so a revoked job never runs however long it waits in its queue.
  std::optional<Duration> remember_for;
};

struct RevokeOutcome {
  store::RevokeEffect effect = store::RevokeEffect::NotTracked;
  std::optional<JobState> previous_state; // the job's state before the revoke, if it had a record
  // Whether the broker confirmed the control message that tells running
  // workers; the revoke is recorded in the database either way.
  bool broadcast = false;
};

struct ControlOptions {
  // The workers addressed, by name ("host:pid", as `celeriac inspect workers`
  // lists them); empty: every worker.
  std::vector<std::string> destination;
  // How long answers are collected (less when every destination answered);
  // zero: the command is only sent.
  std::chrono::milliseconds reply_timeout{1000};
};

// The broker did not take a message: it nacked it, returned it as unroutable,
// or the client gave up on it (stopped, or the message could not be encoded).
class PublishError : public InfrastructureError {
 public:
  enum class Kind { Nacked, Returned, Failed };
  PublishError(JobId id, std::string queue, Kind kind, std::string detail);
  JobId id() const noexcept { return id_; }
  const std::string& queue() const noexcept { return queue_; }
  Kind kind() const noexcept { return kind_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  JobId id_;
  std::string queue_;
  Kind kind_;
  std::string detail_;
};

// wait() reached its timeout before the job reached a terminal state.
class WaitTimeout : public Error {
 public:
  WaitTimeout(JobId id, Duration timeout, std::optional<JobState> last_state);
  JobId id() const noexcept { return id_; }
  // The job's state when the wait gave up; nullopt when it had no record.
  std::optional<JobState> last_state() const noexcept { return last_state_; }

 private:
  JobId id_;
  std::optional<JobState> last_state_;
};

// result() of a job that ended in FAILURE or REVOKED: the record says why.
class JobFailed : public Error {
 public:
  explicit JobFailed(store::JobRecord record);
  const store::JobRecord& record() const noexcept { return record_; }

 private:
  store::JobRecord record_;
};

class Client {
 public:
  // Validates CONFIG's broker and database settings, starts the loop thread
  // and connects to the broker, declaring the configured queues (and the delay
  // levels). Throws InfrastructureError naming the broker (password redacted)
  // if it cannot connect within options.connect_timeout. The database is
  // connected at once with track_pending, otherwise on first use.
  explicit Client(const Config& config, ClientOptions options = {});
  // Stops the loop thread; enqueues still waiting fail with PublishError.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Builds the job (task defaults from config.task(TASK), then OPTIONS; null
  // ARGS / KWARGS stand for [] / {}),
  // publishes it (countdown/eta: through the delay levels) and returns its id
  // once the broker confirmed it. Unknown queue: InvalidInput("queue").
  JobId enqueue(const std::string& task, nlohmann::json args = nlohmann::json::array(),
                nlohmann::json kwargs = nlohmann::json::object(),
                const EnqueueOptions& options = {});

  // Validates all of REQUESTS first (nothing is published if one is bad:
  // InvalidInput with field "requests[i].<field>"), writes their PENDING rows in
  // one statement, then publishes them pipelined and returns their ids in order
  // once every one is confirmed. On a PublishError the others may have been
  // published: give ids in the options to make a retry of the batch idempotent.
  std::vector<JobId> enqueue_many(std::span<const EnqueueRequest> requests);

  // The job's record; nullopt if the database has none (unknown id, or not
  // yet received by a worker when track_pending is off).
  std::optional<store::JobRecord> status(JobId id);

  // The return value of a job in SUCCESS; nullopt while it is not finished or
  // unknown. Throws JobFailed if it ended in FAILURE or REVOKED.
  std::optional<nlohmann::json> result(JobId id);

  // Blocks until the job is SUCCESS, FAILURE or REVOKED and returns its
  // record (it does not throw for FAILURE: look at record.state). Woken by
  // the database's NOTIFY, not by polling. Throws WaitTimeout after TIMEOUT.
  store::JobRecord wait(JobId id, Duration timeout);

  // Records the revoke in the database (a non-terminal job becomes REVOKED and
  // its waiters wake), then broadcasts it to workers on the celeriac.control
  // exchange, best effort (RevokeOutcome::broadcast).
  RevokeOutcome revoke(JobId id, const RevokeOptions& options = {});

  // The configuration the client was built from.
  // Broadcasts a control command to the workers on the celeriac.control
  // exchange (core/control.hpp: "ping", "shutdown", "revoke",
  // "rate_limit") and returns the answers that arrived within
  // options.reply_timeout, one per worker that answered. Throws
  // InfrastructureError when the broker does not confirm the command.
  std::vector<ControlReply> control(const std::string& method,
                                    nlohmann::json arguments = nlohmann::json::object(),
                                    const ControlOptions& options = {});

  const Config& config() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace celeriac
