#include "celeriac/worker/job_path.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "celeriac/broker/topology.hpp"

namespace celeriac::worker {
namespace {

// Jobs due within this long wait on a local timer instead of a trip through
// the delay topology, whose resolution is one second.
constexpr Duration kLocalEtaLimit = std::chrono::seconds(1);

// The header a dead letter carries its reason in.
constexpr const char* kDeadReasonHeader = "x-celeriac-dead-reason";

std::optional<JobId> readable_id(const Message& raw) {
  const HeaderValue* id = raw.headers.find("id");
  if (id == nullptr) return std::nullopt;
  const auto* text = id->get_if<std::string>();
  return text ? JobId::parse(*text) : std::nullopt;
}

} // namespace

// Acks a delivery once every part it waits for (a record, a publish) is done,
// or requeues it when any part failed.
class JobPath::Settlement {
 public:
  Settlement(JobPath& path, broker::Delivery delivery, int parts)
      : path_(path), delivery_(std::move(delivery)), parts_(parts) {}

  static std::shared_ptr<Settlement> make(JobPath& path, broker::Delivery delivery, int parts) {
    return std::make_shared<Settlement>(path, std::move(delivery), parts);
  }

  store::WriteCallback on_record(std::shared_ptr<Settlement> self) {
    return [self](const store::WriteOutcome& outcome) {
      self->part_done(outcome.committed, outcome.error);
    };
  }
  broker::PublishCallback on_publish(std::shared_ptr<Settlement> self) {
    return [self](const broker::PublishResult& result) {
      self->part_done(result.status == broker::PublishStatus::Confirmed,
                      std::string(broker::to_string(result.status)) + " " + result.detail);
    };
  }
  const broker::Delivery& delivery() const { return delivery_; }

 private:
  void part_done(bool ok, const std::string& why) {
    if (!ok) {
      ok_ = false;
      spdlog::warn("worker: job message {} from {} goes back to its queue: {}", delivery_.tag,
                   delivery_.queue, why);
    }
    if (--parts_ > 0) return;
    if (ok_) {
      path_.broker_.ack(delivery_);
    } else {
      ++path_.counters_.requeued;
      path_.broker_.reject(delivery_, true);
    }
  }

  JobPath& path_;
  broker::Delivery delivery_;
  int parts_;
  bool ok_ = true;
};

JobPath::JobPath(broker::JobBroker& broker, StateRecorder& recorder, TaskRunner& runner,
                 const TaskRegistry& registry, JobPathOptions options)
    : broker_(broker),
      recorder_(recorder),
      runner_(runner),
      registry_(registry),
      options_(std::move(options)) {}

void JobPath::handle(broker::Delivery&& delivery) {
  if (stopping_) return requeue_unstarted(std::move(delivery));
  if (!delivery.job) return reject_undecodable(std::move(delivery));
  const Job& job = *delivery.job;
  const Timestamp now = options_.clock();
  const TaskDefinition* definition = registry_.find(job.task);
  if (definition == nullptr) {
    ++counters_.failed;
    const std::string why = fmt::format("unknown task '{}'", job.task);
    auto settlement = Settlement::make(*this, std::move(delivery), 2);
    store::JobChange failure = change(*settlement->delivery().job, JobState::Failure);
    failure.job = settlement->delivery().job; // no RECEIVED carried the description
    failure.error = store::JobError{"UnknownTask", why, ""};
    recorder_.record(std::move(failure), settlement->on_record(settlement));
    dead_letter(settlement->delivery(), why, settlement->on_publish(settlement));
    return;
  }
  if (job.expires && *job.expires <= now)
    return settle_revoked(std::move(delivery), "Expired",
                          "expired at " + format_iso8601(*job.expires));
  if (revoked_.contains(job.id)) return settle_revoked(std::move(delivery), "Revoked", "revoked");
  if (job.eta && *job.eta > now) {
    spdlog::debug("worker: job {} is due at {}; holding it", job.id.str(),
                  format_iso8601(*job.eta));
    return send_back_for_eta(std::move(delivery), *job.eta - now);
  }
  if (const auto rate = limiter_.effective(job.task, definition->defaults.rate_limit)) {
    // A long wait goes back to the broker (DESIGN.md: delays never live in
    // worker memory), without a reservation: it competes again when it returns.
    const Duration until_free = limiter_.next_slot_in(job.task, now);
    if (until_free >= kLocalEtaLimit) {
      ++counters_.rate_limited;
      return send_back_until(std::move(delivery), now + until_free);
    }
    const Duration wait = limiter_.reserve(job.task, *rate, now);
    if (wait > Duration::zero()) return hold_for_rate(std::move(delivery), *definition, wait);
  }
  if (job.retries > 0 || delivery.redelivered) {
    spdlog::debug("worker: job {} ({}, retries {}{}) starts", job.id.str(), job.task, job.retries,
                  delivery.redelivered ? ", redelivered" : "");
  }
  start(std::move(delivery), *definition);
}

void JobPath::reject_undecodable(broker::Delivery&& delivery) {
  ++counters_.failed;
  const std::string why = "undecodable message: " + delivery.error.value_or("unknown error");
  const std::optional<JobId> id = readable_id(delivery.raw);
  auto settlement = Settlement::make(*this, std::move(delivery), id ? 2 : 1);
  if (id) {
    store::JobChange failure = store::job_change(*id, JobState::Failure, options_.clock());
    failure.error = store::JobError{"DecodeError", why, ""};
    failure.worker = options_.worker_name;
    recorder_.record(std::move(failure), settlement->on_record(settlement));
  }
  dead_letter(settlement->delivery(), why, settlement->on_publish(settlement));
}

void JobPath::settle_revoked(broker::Delivery&& delivery, const std::string& type,
                             const std::string& why) {
  ++counters_.revoked;
  auto settlement = Settlement::make(*this, std::move(delivery), 1);
  store::JobChange revoked = change(*settlement->delivery().job, JobState::Revoked);
  revoked.job = settlement->delivery().job; // no RECEIVED carried the description
  revoked.error = store::JobError{type, why, ""};
  recorder_.record(std::move(revoked), settlement->on_record(settlement));
}

void JobPath::send_back_for_eta(broker::Delivery&& delivery, Duration wait) {
  if (wait < kLocalEtaLimit) {
    auto held = std::make_shared<broker::Delivery>(std::move(delivery));
    options_.defer(wait, [this, held] { handle(std::move(*held)); });
    return;
  }
  auto settlement = Settlement::make(*this, std::move(delivery), 1);
  broker_.publish_delayed(*settlement->delivery().job,
                          std::chrono::duration_cast<std::chrono::seconds>(wait),
                          settlement->on_publish(settlement));
}

// Publishes the job again to arrive at DUE (the delay levels), then acks this delivery.
void JobPath::send_back_until(broker::Delivery&& delivery, Timestamp due) {
  auto settlement = Settlement::make(*this, std::move(delivery), 1);
  Job later = *settlement->delivery().job;
  later.eta = due;
  const Duration wait = due - options_.clock();
  broker_.publish_delayed(later, std::chrono::duration_cast<std::chrono::seconds>(wait),
                          settlement->on_publish(settlement));
}

// Under a second: the job keeps its place in the prefetch window meanwhile;
// other tasks run on.
void JobPath::hold_for_rate(broker::Delivery&& delivery, const TaskDefinition& definition,
                            Duration wait) {
  ++counters_.rate_limited;
  spdlog::debug("worker: job {} ({}) waits {} ms for its rate limit", delivery.job->id.str(),
                delivery.job->task,
                std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
  auto held = std::make_shared<broker::Delivery>(std::move(delivery));
  options_.defer(wait, [this, held, &definition] {
    if (stopping_) return requeue_unstarted(std::move(*held));
    if (revoked_.contains(held->job->id))
      return settle_revoked(std::move(*held), "Revoked", "revoked");
    start(std::move(*held), definition);
  });
}

void JobPath::requeue_unstarted(broker::Delivery&& delivery) {
  ++counters_.requeued;
  broker_.reject(delivery, true);
}

void JobPath::start(broker::Delivery&& delivery, const TaskDefinition& definition) {
  ++counters_.received;
  if (options_.on_received) options_.on_received(*delivery.job);
  run(std::make_shared<broker::Delivery>(std::move(delivery)), definition);
}

void JobPath::run(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition) {
  if (stopping_) return requeue_unstarted(std::move(*held));
  if (options_.slots == 0 || counters_.running < options_.slots)
    return dispatch(std::move(held), definition);
  const auto key = std::make_tuple(held->preference, -held->job->priority, arrivals_++);
  waiting_.emplace(key, Waiting{std::move(held), &definition});
  counters_.waiting = waiting_.size();
}

// Takes a slot. RECEIVED is recorded only now, so a job that waited for a
// slot and went back at a shutdown was not counted as a delivery.
void JobPath::dispatch(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition) {
  ++counters_.running;
  if (!held->redelivered) return begin(std::move(held), definition, options_.clock());
  // A redelivery: its worker may have died under it. Count before running.
  recorder_.record(store::received_change(*held->job, options_.clock(), options_.worker_name),
                   [this, held, &definition](const store::WriteOutcome& o) {
                     const int redeliveries = o.deliveries - held->job->retries - 1;
                     if (!o.committed || stopping_) {
                       --counters_.running;
                       requeue_unstarted(std::move(*held));
                     } else if (redeliveries > definition.defaults.max_redeliveries) {
                       // Each attempt (retries + 1 of them) was delivered once; the rest were
                       // redeliveries.
                       --counters_.running;
                       fail_lost(std::move(*held), redeliveries);
                     } else {
                       return begin(held, definition);
                     }
                     dispatch_waiting();
                   });
}

void JobPath::begin(std::shared_ptr<broker::Delivery> held, const TaskDefinition& definition,
                    std::optional<Timestamp> received_at) {
  store::JobChange step = change(*held->job, JobState::Started);
  if (received_at) { // RECEIVED in the same change: it carries the description
    step.job = *held->job;
    step.received_at = received_at;
  }
  recorder_.record(std::move(step), {});
  if (options_.on_started) options_.on_started(*held->job);
  const auto started = std::chrono::steady_clock::now();
  runner_.run(*held->job, definition, [this, held, &definition, started](TaskOutcome outcome) {
    --counters_.running;
    const std::chrono::duration<double> ran = std::chrono::steady_clock::now() - started;
    finish(held, definition, outcome, ran.count());
    dispatch_waiting();
  });
}

void JobPath::dispatch_waiting() {
  while (!waiting_.empty() && counters_.running < options_.slots && !stopping_) {
    Waiting next = std::move(waiting_.begin()->second);
    waiting_.erase(waiting_.begin());
    counters_.waiting = waiting_.size();
    if (revoked_.contains(next.held->job->id)) {
      settle_revoked(std::move(*next.held), "Revoked", "revoked");
      continue;
    }
    dispatch(std::move(next.held), *next.definition);
  }
}

void JobPath::stop_starting() {
  stopping_ = true;
  for (auto& [key, waiting] : waiting_)
    requeue_unstarted(std::move(*waiting.held));
  waiting_.clear();
  counters_.waiting = 0;
}

void JobPath::fail_lost(broker::Delivery&& delivery, int redeliveries) {
  ++counters_.failed;
  const std::string why = fmt::format(
      "delivered {} times more than once: its worker was lost each time (max_redeliveries)",
      redeliveries);
  auto settlement = Settlement::make(*this, std::move(delivery), 2);
  store::JobChange failure = change(*settlement->delivery().job, JobState::Failure);
  failure.error = store::JobError{"WorkerLost", why, ""};
  recorder_.record(std::move(failure), settlement->on_record(settlement));
  dead_letter(settlement->delivery(), "WorkerLost: " + why, settlement->on_publish(settlement));
}

void JobPath::finish(std::shared_ptr<broker::Delivery> delivery, const TaskDefinition& definition,
                     const TaskOutcome& outcome, double seconds) {
  const Job& job = *delivery->job; // valid until the delivery moves into its Settlement
  if (revoked_.contains(job.id)) { // revoked while it ran (terminate kills it): no retry
    if (options_.on_finished)
      options_.on_finished(job, JobFinished{JobState::Revoked, seconds, nullptr, "revoked"});
    return settle_revoked(std::move(*delivery), "Revoked", "revoked while running");
  }
  const OutcomePlan plan = plan_outcome(job, outcome, definition.defaults.retry, options_.random);
  if (options_.on_finished) {
    JobFinished finished;
    finished.state = plan.state;
    finished.seconds = seconds;
    if (plan.result) finished.result = &*plan.result;
    if (plan.state != JobState::Success)
      finished.error = plan.error_type + ": " + plan.error_message;
    options_.on_finished(job, finished);
  }
  store::JobChange recorded = change(job, plan.state);
  recorded.result = plan.result;
  recorded.max_retries = definition.defaults.retry.max_retries;
  if (plan.state != JobState::Success)
    recorded.error = store::JobError{plan.error_type, plan.error_message, ""};
  const bool follow_up = plan.retry_delay || plan.dead_letter;
  auto settlement = Settlement::make(*this, std::move(*delivery), follow_up ? 2 : 1);
  recorder_.record(std::move(recorded), settlement->on_record(settlement));
  if (plan.retry_delay) {
    ++counters_.retried;
    Job next = *settlement->delivery().job;
    spdlog::debug("worker: job {} retries in {} ms", next.id.str(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(*plan.retry_delay).count());
    next.retries += 1;
    next.sent_at = options_.clock();
    next.eta = *next.sent_at + *plan.retry_delay;
    // Under a second the delay levels have nothing to add: the job goes
    // straight back to its queue and its eta holds it (send_back_for_eta).
    if (*plan.retry_delay < kLocalEtaLimit) {
      broker_.publish(next, settlement->on_publish(settlement));
    } else {
      broker_.publish_delayed(next,
                              std::chrono::duration_cast<std::chrono::seconds>(*plan.retry_delay),
                              settlement->on_publish(settlement));
    }
  } else if (plan.dead_letter) {
    ++counters_.failed;
    dead_letter(settlement->delivery(), plan.error_type + ": " + plan.error_message,
                settlement->on_publish(settlement));
  } else {
    ++counters_.succeeded;
  }
}

void JobPath::dead_letter(const broker::Delivery& delivery, const std::string& reason,
                          broker::PublishCallback done) {
  ++counters_.dead_lettered;
  broker::Outgoing outgoing;
  outgoing.routing_key = broker::dead_letter_queue(delivery.queue);
  outgoing.message = delivery.raw;
  outgoing.message.headers.set(kDeadReasonHeader, HeaderValue(reason));
  outgoing.message.properties.expiration.reset();
  outgoing.done = std::move(done);
  broker_.publish(std::move(outgoing));
}

store::JobChange JobPath::change(const Job& job, JobState state) const {
  store::JobChange c = store::job_change(job.id, state, options_.clock(), job.retries);
  c.worker = options_.worker_name;
  return c;
}

} // namespace celeriac::worker
