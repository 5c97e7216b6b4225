// Client (celeriac/client.hpp): builds jobs on the caller's thread, writes
// their PENDING rows, hands the messages to the BrokerThread and waits for
// the confirms; reads and waits through ClientDatabase.
#include "celeriac/client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>

#include "celeriac/broker/broker_thread.hpp"
#include "celeriac/broker/job_message.hpp"
#include "celeriac/broker/topology.hpp"
#include "celeriac/new_job_id.hpp"
#include "client_database.hpp"
#include "client_messages.hpp"

namespace celeriac {
namespace {

using broker::BrokerThread;
using SteadyClock = std::chrono::steady_clock;

Timestamp now_utc() {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

// "pid@host", the sender Celery records in the origin header.
std::string origin() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
  return fmt::format("{}@{}", getpid(), host);
}

std::unique_ptr<BrokerThread> start_broker(const Config& config, const ClientOptions& options) {
  try {
    return std::make_unique<BrokerThread>(client_detail::broker_options(config, options));
  } catch (const InvalidInput&) {
    throw; // a bad broker URL names itself
  } catch (const std::exception& e) {
    throw InfrastructureError(fmt::format("broker {} unreachable within {}: {}",
                                          redact_url(config.broker.url),
                                          format_duration(options.connect_timeout), e.what()));
  }
}

PublishError::Kind error_kind(broker::PublishStatus status) {
  switch (status) {
    case broker::PublishStatus::Nacked:
      return PublishError::Kind::Nacked;
    case broker::PublishStatus::Returned:
      return PublishError::Kind::Returned;
    default:
      return PublishError::Kind::Failed;
  }
}

// The outcome of one publish, waiting until DEADLINE at most.
broker::PublishResult await_confirm(std::future<broker::PublishResult>& future,
                                    SteadyClock::time_point deadline, Duration timeout) {
  if (future.wait_until(deadline) != std::future_status::ready) {
    return {broker::PublishStatus::Failed,
            fmt::format("not confirmed within {}; it may still be published",
                        format_duration(timeout))};
  }
  try {
    return future.get();
  } catch (const std::future_error&) { // the loop ended before completing it
    return {broker::PublishStatus::Failed, "the client stopped"};
  }
}

} // namespace

class Client::Impl {
 public:
  Impl(const Config& config, ClientOptions options)
      : config_(config),
        options_(std::move(options)),
        track_pending_(options_.track_pending.value_or(config.database.track_pending)),
        origin_(origin()),
        database_(config.database.url, config.database.schema, options_.connect_timeout),
        broker_(start_broker(config_, options_)) {
    if (track_pending_) database_.connect();
  }

  std::vector<JobId> enqueue(std::span<const EnqueueRequest> requests, bool name_index);
  store::JobRecord wait(JobId id, Duration timeout);
  RevokeOutcome revoke(JobId id, const RevokeOptions& options);
  std::vector<ControlReply> control(const std::string& method, nlohmann::json arguments,
                                    const ControlOptions& options);

  const Config config_;
  const ClientOptions options_;
  const bool track_pending_;
  const std::string origin_;
  client_detail::ClientDatabase database_;

 private:
  struct Prepared {
    Job job;
    broker::Outgoing message;
  };
  Prepared prepare(const EnqueueRequest& request, Timestamp now) const;
  void await_confirms(const std::vector<Job>& jobs,
                      std::vector<std::future<broker::PublishResult>>& futures) const;

  // Answers to control commands: the private reply queue and what came back,
  // by ticket. Written on the loop thread, read by callers.
  struct Replies {
    std::mutex mutex;
    std::condition_variable arrived;
    std::string queue; // empty until the broker declared it
    std::map<std::string, std::vector<ControlReply>> by_ticket; // tickets being waited for
  };
  std::string reply_queue();

  std::mutex replies_mutex_; // guards the creation of replies_
  std::shared_ptr<Replies> replies_;

  std::unique_ptr<BrokerThread> broker_; // last: stopped first
};

// Declares the reply queue on first use and returns its current name.
std::string Client::Impl::reply_queue() {
  std::shared_ptr<Replies> replies;
  {
    std::lock_guard lock(replies_mutex_);
    if (!replies_) {
      replies_ = std::make_shared<Replies>();
      broker::PrivateQueue queue;
      queue.on_ready = [r = replies_](const std::string& name) {
        std::lock_guard held(r->mutex);
        r->queue = name;
        r->arrived.notify_all();
      };
      queue.on_message = [r = replies_](broker::InboundMessage&& message) {
        ControlReply reply;
        try {
          reply = decode_control_reply(message.message.body);
        } catch (const DecodeError& e) {
          spdlog::warn("client: control reply ignored: {}", e.what());
          return;
        }
        std::lock_guard held(r->mutex);
        const auto waiting = r->by_ticket.find(reply.ticket);
        if (waiting == r->by_ticket.end()) return; // late: its asker gave up
        waiting->second.push_back(std::move(reply));
        r->arrived.notify_all();
      };
      if (!broker_->listen(std::move(queue))) throw InfrastructureError("the client is stopped");
    }
    replies = replies_;
  }
  std::unique_lock lock(replies->mutex);
  if (!replies->arrived.wait_for(lock, options_.connect_timeout,
                                 [&] { return !replies->queue.empty(); }))
    throw InfrastructureError(fmt::format("no reply queue from the broker within {}",
                                          format_duration(options_.connect_timeout)));
  return replies->queue;
}

std::vector<ControlReply> Client::Impl::control(const std::string& method, nlohmann::json arguments,
                                                const ControlOptions& options) {
  if (method.empty()) throw InvalidInput("method", "empty");
  if (!arguments.is_object()) throw InvalidInput("arguments", "must be a JSON object");
  ControlRequest request;
  request.method = method;
  request.arguments = std::move(arguments);
  if (!options.destination.empty()) request.destination = options.destination;
  request.ticket = new_job_id().str();
  const bool answers = options.reply_timeout > std::chrono::milliseconds::zero();
  if (answers) request.reply_to = ControlReplyTo{"", reply_queue()};
  std::vector<broker::Outgoing> message(1);
  message[0].exchange = std::string(broker::kControlExchange);
  message[0].mandatory = false; // no worker listening is not an error
  message[0].message.properties.delivery_mode = 1;
  try {
    message[0].message.body = encode_control(request);
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput("arguments", e.what()); // e.g. a string that is not UTF-8
  }
  if (answers) {
    std::lock_guard lock(replies_->mutex);
    replies_->by_ticket[request.ticket];
  }
  auto futures = broker_->publish(std::move(message));
  const auto sent = await_confirm(futures[0], SteadyClock::now() + options_.publish_timeout,
                                  options_.publish_timeout);
  std::vector<ControlReply> collected;
  if (answers) {
    std::unique_lock lock(replies_->mutex);
    auto& got = replies_->by_ticket[request.ticket];
    if (sent.status == broker::PublishStatus::Confirmed) {
      const std::size_t expected = options.destination.size();
      replies_->arrived.wait_for(lock, options.reply_timeout,
                                 [&] { return expected > 0 && got.size() >= expected; });
    }
    collected = std::move(got);
    replies_->by_ticket.erase(request.ticket);
  }
  if (sent.status != broker::PublishStatus::Confirmed)
    throw InfrastructureError(fmt::format("control command {} not sent: {} {}", method,
                                          broker::to_string(sent.status), sent.detail));
  return collected;
}

Client::Impl::Prepared Client::Impl::prepare(const EnqueueRequest& request, Timestamp now) const {
  const TaskConfig task = config_.task(request.task);
  const JobDefaults defaults{task.queue, task.priority, task.soft_time_limit, task.hard_time_limit};
  EnqueueOptions options = request.options;
  options.ignore_result = options.ignore_result || task.ignore_result;
  Job job = make_job(request.task, request.args.is_null() ? nlohmann::json::array() : request.args,
                     request.kwargs.is_null() ? nlohmann::json::object() : request.kwargs, options,
                     defaults, new_job_id(), now);
  if (config_.queue(job.queue) == nullptr) {
    std::string names;
    for (const auto& queue : config_.queues)
      names += (names.empty() ? "" : ", ") + queue.name;
    throw InvalidInput(
        "queue", fmt::format("'{}' is not a configured queue (configured: {})", job.queue, names));
  }
  job.origin = origin_;
  job.sent_at = now; // the worker's queue-wait metric counts from here
  auto message = broker::job_message(job, now, config_.broker.max_body_bytes);
  return {std::move(job), std::move(message)};
}

std::vector<JobId> Client::Impl::enqueue(std::span<const EnqueueRequest> requests,
                                         bool name_index) {
  const Timestamp now = now_utc();
  std::vector<Job> jobs;
  std::vector<broker::Outgoing> messages;
  jobs.reserve(requests.size());
  messages.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    try {
      auto prepared = prepare(requests[i], now);
      jobs.push_back(std::move(prepared.job));
      messages.push_back(std::move(prepared.message));
    } catch (const InvalidInput& e) {
      if (!name_index) throw;
      throw InvalidInput(fmt::format("requests[{}].{}", i, e.field()), e.reason());
    }
  }
  if (track_pending_ && !jobs.empty()) database_.write_pending(jobs, now);
  auto futures = broker_->publish(std::move(messages));
  await_confirms(jobs, futures);
  std::vector<JobId> ids;
  ids.reserve(jobs.size());
  for (const Job& job : jobs)
    ids.push_back(job.id);
  return ids;
}

// Waits for every confirm (one deadline for the batch), then throws for the
// first message that was not confirmed, saying how many others failed too.
void Client::Impl::await_confirms(const std::vector<Job>& jobs,
                                  std::vector<std::future<broker::PublishResult>>& futures) const {
  const auto deadline = SteadyClock::now() + options_.publish_timeout;
  std::optional<std::size_t> first_failed;
  std::optional<broker::PublishResult> first_result;
  std::size_t failures = 0;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto result = await_confirm(futures[i], deadline, options_.publish_timeout);
    if (result.status == broker::PublishStatus::Confirmed) continue;
    ++failures;
    if (!first_failed) {
      first_failed = i;
      first_result = std::move(result);
    }
  }
  if (!first_failed) return;
  std::string detail = first_result->detail;
  if (failures > 1) detail += fmt::format(" ({} more of {} failed too)", failures - 1, jobs.size());
  const Job& job = jobs[*first_failed];
  throw PublishError(job.id, job.queue, error_kind(first_result->status), detail);
}

store::JobRecord Client::Impl::wait(JobId id, Duration timeout) {
  if (timeout < Duration::zero()) throw InvalidInput("timeout", "must not be negative");
  std::optional<store::JobRecord> last_seen;
  const auto now = SteadyClock::now();
  // Saturates: wait(id, Duration::max()) means "for ever", not an overflow.
  const auto room = std::chrono::duration_cast<Duration>(SteadyClock::time_point::max() - now);
  const auto deadline = timeout >= room ? SteadyClock::time_point::max() : now + timeout;
  auto record = database_.wait(id, deadline, last_seen);
  if (record) return std::move(*record);
  throw WaitTimeout(id, timeout,
                    last_seen ? std::optional<JobState>(last_seen->state) : std::nullopt);
}

RevokeOutcome Client::Impl::revoke(JobId id, const RevokeOptions& options) {
  if (options.remember_for && *options.remember_for <= Duration::zero()) {
    throw InvalidInput("remember_for", "must be positive");
  }
  const Timestamp now = now_utc();
  std::optional<Timestamp> expires_at;
  if (options.remember_for) expires_at = now + *options.remember_for;
  const auto recorded = database_.revoke(
      id, store::RevokeRequest{options.reason, options.terminate, expires_at, now});
  RevokeOutcome outcome{recorded.effect, recorded.previous_state, false};

  std::vector<broker::Outgoing> control;
  control.push_back(client_detail::revoke_message(id, options.terminate));
  auto futures = broker_->publish(std::move(control));
  const auto result = await_confirm(futures[0], SteadyClock::now() + options_.publish_timeout,
                                    options_.publish_timeout);
  outcome.broadcast = result.status == broker::PublishStatus::Confirmed;
  if (!outcome.broadcast) {
    spdlog::warn("client: revoke of {} recorded, but its broadcast to workers failed: {}", id.str(),
                 result.detail);
  }
  return outcome;
}

Client::Client(const Config& config, ClientOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {}

Client::~Client() = default;

JobId Client::enqueue(const std::string& task, nlohmann::json args, nlohmann::json kwargs,
                      const EnqueueOptions& options) {
  const EnqueueRequest request{task, std::move(args), std::move(kwargs), options};
  return impl_->enqueue(std::span<const EnqueueRequest>(&request, 1), false).front();
}

std::vector<JobId> Client::enqueue_many(std::span<const EnqueueRequest> requests) {
  return impl_->enqueue(requests, true);
}

std::optional<store::JobRecord> Client::status(JobId id) {
  return impl_->database_.find(id);
}

std::optional<nlohmann::json> Client::result(JobId id) {
  auto record = impl_->database_.find(id);
  if (!record || !is_terminal(record->state)) return std::nullopt;
  if (record->state != JobState::Success) throw JobFailed(std::move(*record));
  return record->result.value_or(nullptr);
}

store::JobRecord Client::wait(JobId id, Duration timeout) {
  return impl_->wait(id, timeout);
}

RevokeOutcome Client::revoke(JobId id, const RevokeOptions& options) {
  return impl_->revoke(id, options);
}

std::vector<ControlReply> Client::control(const std::string& method, nlohmann::json arguments,
                                          const ControlOptions& options) {
  return impl_->control(method, std::move(arguments), options);
}

const Config& Client::config() const {
  return impl_->config_;
}

} // namespace celeriac
