// Worker::run(): builds the runtime on a fresh loop, runs it, and tears it
// down in the order the delivery contract needs: no more deliveries, running
// jobs settled (or dropped unacked), store flushed, then the connection closed.
#include "celeriac/worker/worker.hpp"

#include <unistd.h>

#include <csignal>
#include <random>

#include <spdlog/spdlog.h>

#include "celeriac/broker/topology.hpp"
#include "celeriac/core/control.hpp"
#include "celeriac/core/rate_limit.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/task_events.hpp"
#include "celeriac/worker/thread_pool.hpp"
#include "celeriac/worker/worker_metrics.hpp"
#include "deferred_calls.hpp"
#include "worker_http.hpp"
#include "worker_presence.hpp"

namespace celeriac::worker {
namespace {

constexpr auto kStoreFlushGrace = std::chrono::seconds(10);
constexpr int kTicksPerHeartbeat = 40; // the 50 ms tick: an event heartbeat every 2 s

Timestamp system_now() {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

class WriterRecorder final : public StateRecorder {
 public:
  explicit WriterRecorder(store::StoreWriter& writer) : writer_(writer) {}
  void record(store::JobChange change, store::WriteCallback done) override {
    writer_.submit(std::move(change), std::move(done));
  }

 private:
  store::StoreWriter& writer_;
};

template <typename Handle>
void close_handle(Handle* handle) {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(handle)))
    uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
}

} // namespace

class Worker::Runtime {
 public:
  Runtime(Worker& owner, uv_loop_t* loop)
      : owner_(owner),
        loop_(loop),
        broker_(loop, owner.options_.broker),
        writer_(loop, owner.options_.store),
        recorder_(writer_),
        deferred_(loop),
        runner_(make_pool()),
        path_(broker_, recorder_, *runner_, owner.registry_, path_options()) {
    uv_async_init(loop, &wake_, [](uv_async_t* a) { static_cast<Runtime*>(a->data)->on_wake(); });
    wake_.data = this;
    for (uv_signal_t* s : {&sigterm_, &sigint_, &sigquit_}) {
      uv_signal_init(loop, s);
      s->data = this;
    }
    uv_timer_init(loop, &tick_);
    tick_.data = this;
  }

  void start() {
    if (processes_ != nullptr) processes_->start(); // throws when the child binary cannot start
    writer_.start();
    broker_.start(); // throws InfrastructureError when the broker cannot be reached
    listen_for_control();
    if (owner_.options_.events) {
      events_ = std::make_unique<TaskEvents>(
          broker_, EventSource{owner_.options_.name, static_cast<int>(::getpid())}, system_now);
      events_->worker("worker-online", 0, 0);
    }
    if (owner_.options_.http) {
      http_ = std::make_unique<detail::WorkerHttp>(metrics_, *owner_.options_.http);
      std::lock_guard lock(owner_.mutex_);
      owner_.http_port_ = http_->port();
    }
    presence_ = std::make_unique<detail::WorkerPresence>(loop_, presence_options());
    presence_->load_revoked(); // before the first delivery
    presence_->start();
    const auto& o = owner_.options_;
    const std::uint16_t prefetch =
        o.prefetch > 0 ? o.prefetch : static_cast<std::uint16_t>(o.concurrency);
    broker_.consume(o.queues, prefetch,
                    [this](broker::Delivery&& d) { on_delivery(std::move(d)); });
    if (threads_ != nullptr) {
      threads_->on_too_many_stuck = [this] {
        spdlog::error("worker: half the pool is stuck past hard time limits; draining to restart");
        {
          std::lock_guard lock(owner_.mutex_);
          owner_.stuck_ = true;
        }
        begin_shutdown(false);
      };
    }
    uv_signal_start(
        &sigterm_, [](uv_signal_t* s, int) { self(s)->on_signal(false); }, SIGTERM);
    uv_signal_start(
        &sigint_, [](uv_signal_t* s, int) { self(s)->on_signal(false); }, SIGINT);
    uv_signal_start(
        &sigquit_, [](uv_signal_t* s, int) { self(s)->on_signal(true); }, SIGQUIT);
    uv_timer_start(
        &tick_, [](uv_timer_t* t) { static_cast<Runtime*>(t->data)->on_tick(); }, 50, 50);
    spdlog::info("worker {}: consuming {} with {} {}, prefetch {}", o.name,
                 fmt::join(o.queues, ","), o.concurrency,
                 o.pool == PoolKind::Process ? "child processes" : "threads", prefetch);
  }

  void wake() { uv_async_send(&wake_); }

 private:
  template <typename Handle>
  static Runtime* self(Handle* h) {
    return static_cast<Runtime*>(h->data);
  }

  detail::PresenceOptions presence_options() {
    const auto& o = owner_.options_;
    detail::PresenceOptions p;
    p.database_url = o.store.database_url;
    p.schema = o.store.schema;
    const auto colon = o.name.rfind(':');
    p.identity.hostname = o.name.substr(0, colon);
    p.identity.pid = ::getpid();
    p.identity.queues = o.queues;
    p.identity.concurrency = static_cast<int>(o.concurrency);
    p.identity.started_at = system_now();
    p.counts = [this] {
      const JobPathCounters c = owner_.counters();
      return std::pair<std::int64_t, std::int64_t>(
          static_cast<std::int64_t>(c.succeeded + c.failed + c.revoked),
          static_cast<std::int64_t>(c.failed));
    };
    p.on_revoked = [this](const std::vector<store::RevokedJob>& revoked) {
      for (const auto& r : revoked)
        apply_revoke(r.id, r.terminate);
    };
    return p;
  }

  // Returns whether a running job was stopped (terminate).
  bool apply_revoke(const JobId& id, bool terminate) {
    spdlog::debug("worker: job {} is revoked{}", id.str(), terminate ? " (terminate)" : "");
    path_.revoke(id);
    if (!terminate) return false;
    if (processes_ != nullptr && processes_->terminate(id)) {
      spdlog::warn("worker: job {} revoked with terminate: its pool child was killed", id.str());
      return true;
    }
    return threads_ != nullptr && threads_->cancel(id); // cooperative: a thread cannot be killed
  }

  // The control exchange: a private queue bound to celeriac.control.
  void listen_for_control() {
    broker::PrivateQueue control;
    control.bind_exchange = std::string(broker::kControlExchange);
    control.on_ready = [](const std::string& name) {
      spdlog::debug("worker: control commands arrive on {}", name);
    };
    control.on_message = [this](broker::InboundMessage&& message) {
      on_control(message.message.body);
    };
    broker_.listen(std::move(control));
  }

  void on_control(const std::string& body) {
    ControlRequest request;
    try {
      request = decode_control(body);
    } catch (const DecodeError& e) {
      spdlog::warn("worker: control message ignored: {}", e.what());
      return;
    }
    if (!addressed_to(request, owner_.options_.name)) return;
    nlohmann::json reply;
    try {
      reply = run_control(request);
    } catch (const InvalidInput& e) {
      spdlog::warn("worker: control command {} refused: {}", request.method, e.what());
      reply = {{"error", e.what()}};
    }
    if (!request.reply_to) return;
    // Answers go to a reply queue, named by the broker, through the default
    // exchange: never to an exchange or a job queue a message names.
    if (!request.reply_to->exchange.empty() ||
        !request.reply_to->routing_key.starts_with("amq.gen-")) {
      spdlog::warn("worker: control reply to {}/{} refused: answers go to amq.gen-* reply queues",
                   request.reply_to->exchange, request.reply_to->routing_key);
      return;
    }
    broker::Outgoing out;
    out.exchange = request.reply_to->exchange;
    out.routing_key = request.reply_to->routing_key;
    out.mandatory = false; // the asker may have stopped waiting
    out.message.properties.delivery_mode = 1;
    out.message.body = encode_control_reply({owner_.options_.name, request.ticket, reply});
    broker_.publish(std::move(out));
  }

  nlohmann::json run_control(const ControlRequest& request) {
    const nlohmann::json& args = request.arguments;
    if (request.method == "ping") return {{"ok", "pong"}};
    if (request.method == "shutdown") {
      spdlog::warn("worker: shutdown asked for on the control exchange");
      begin_shutdown(false);
      return {{"ok", "shutting down"}};
    }
    if (request.method == "revoke") return control_revoke(args);
    if (request.method == "rate_limit") return control_rate_limit(args);
    throw InvalidInput("method", fmt::format("unknown control command '{}'", request.method));
  }

  nlohmann::json control_revoke(const nlohmann::json& args) {
    const auto ids = args.find("task_id");
    if (ids == args.end()) throw InvalidInput("arguments.task_id", "missing");
    std::vector<JobId> parsed;
    for (const auto& id : ids->is_array() ? *ids : nlohmann::json::array({*ids})) {
      const auto job = id.is_string() ? JobId::parse(id.get<std::string>()) : std::nullopt;
      if (!job) throw InvalidInput("arguments.task_id", "must be a job id or a list of them");
      parsed.push_back(*job);
    }
    const auto terminate = args.find("terminate");
    const bool kill = terminate != args.end() && terminate->is_boolean() && terminate->get<bool>();
    std::size_t stopped = 0;
    for (const JobId& id : parsed)
      stopped += apply_revoke(id, kill) ? 1 : 0;
    return {{"ok", fmt::format("{} revoked, {} running stopped", parsed.size(), stopped)}};
  }

  nlohmann::json control_rate_limit(const nlohmann::json& args) {
    const auto task = args.find("task_name");
    if (task == args.end() || !task->is_string())
      throw InvalidInput("arguments.task_name", "missing: the task to limit");
    const std::string name = task->get<std::string>();
    if (owner_.registry_.find(name) == nullptr)
      throw InvalidInput("arguments.task_name", fmt::format("no task '{}' on this worker", name));
    const auto rate = args.find("rate_limit");
    std::string text = "0";
    if (rate != args.end() && rate->is_string()) text = rate->get<std::string>();
    if (rate != args.end() && rate->is_number()) text = rate->dump();
    if (text == "0" || text == "0.0" || (rate != args.end() && rate->is_null())) {
      path_.set_rate_limit(name, std::nullopt);
      spdlog::info("worker: rate limit of {} lifted", name);
      return {{"ok", fmt::format("rate limit of {} lifted", name)}};
    }
    const auto parsed = parse_rate_limit(text);
    if (!parsed)
      throw InvalidInput("arguments.rate_limit",
                         fmt::format("'{}' is not a rate such as 10/s, 100/m or 1000/h", text));
    path_.set_rate_limit(name, parsed);
    spdlog::info("worker: rate limit of {} set to {}", name, text);
    return {{"ok", fmt::format("rate limit of {} set to {}", name, text)}};
  }

  std::unique_ptr<TaskRunner> make_pool() {
    const auto& o = owner_.options_;
    if (o.pool == PoolKind::Thread) {
      auto pool = std::make_unique<ThreadPool>(loop_, o.concurrency);
      threads_ = pool.get();
      return pool;
    }
    ProcessPoolOptions p;
    p.size = o.concurrency;
    p.executable = o.child_executable;
    p.arguments = o.child_arguments;
    p.max_tasks_per_child = o.max_tasks_per_child;
    p.max_memory_per_child = o.max_memory_per_child;
    auto pool = std::make_unique<ProcessPool>(loop_, std::move(p));
    processes_ = pool.get();
    return pool;
  }

  JobPathOptions path_options() {
    JobPathOptions o;
    o.worker_name = owner_.options_.name;
    o.slots = owner_.options_.concurrency;
    o.clock = system_now;
    o.random = [this] { return std::uniform_real_distribution<double>(0, 1)(rng_); };
    o.defer = [this](Duration d, std::function<void()> fn) { deferred_.after(d, std::move(fn)); };
    o.on_received = [this](const Job& job) {
      if (events_) events_->received(job);
    };
    o.on_started = [this](const Job& job) { job_started(job); };
    o.on_finished = [this](const Job& job, const JobFinished& finished) {
      metrics_.job_finished(job.task, finished.state, finished.seconds);
      if (events_) job_event(job, finished);
    };
    return o;
  }

  // The queue wait counts from the send, or from the eta when it was due later.
  void job_started(const Job& job) {
    if (job.sent_at) {
      const Timestamp due = std::max(*job.sent_at, job.eta.value_or(*job.sent_at));
      metrics_.job_waited(job.queue, std::chrono::duration<double>(system_now() - due).count());
    }
    if (events_) events_->started(job);
  }

  void job_event(const Job& job, const JobFinished& finished) {
    switch (finished.state) {
      case JobState::Success:
        events_->succeeded(job, finished.result ? *finished.result : nlohmann::json(),
                           finished.seconds);
        break;
      case JobState::Retry:
        events_->retried(job, finished.error);
        break;
      case JobState::Revoked:
        events_->revoked(job, true, false);
        break;
      default:
        events_->failed(job, finished.error);
    }
  }

  void on_delivery(broker::Delivery&& delivery) {
    if (draining_) {
      broker_.reject(delivery, true); // not started: straight back to its queue
      return;
    }
    path_.handle(std::move(delivery));
  }

  void on_signal(bool cold) { begin_shutdown(cold || draining_); }

  void on_wake() {
    int requested = 0;
    {
      std::lock_guard lock(owner_.mutex_);
      requested = owner_.requested_;
    }
    if (requested > 0) begin_shutdown(requested == 2);
  }

  WorkerGauges gauges() const {
    WorkerGauges g;
    g.inflight = path_.counters().running;
    const std::size_t size = owner_.options_.concurrency;
    const std::size_t busy = threads_ != nullptr ? threads_->busy() : processes_->busy();
    g.pool_busy_ratio = size > 0 ? static_cast<double>(busy) / static_cast<double>(size) : 0;
    g.broker_reconnects = broker_.reconnects();
    g.store_pending = writer_.stats().pending;
    g.draining = draining_;
    g.broker_connected = broker_.connected();
    for (const auto& sub : broker_.subscriptions()) {
      if (sub.status == broker::SubscriptionStatus::Retrying) g.unhealthy_queue = sub.error;
    }
    return g;
  }

  void begin_shutdown(bool cold) {
    if (cold && !cold_) {
      cold_ = true;
      spdlog::warn("worker: cold shutdown; {} running jobs go back to their queues unacked",
                   path_.counters().running);
      finish();
      return;
    }
    if (draining_) return;
    draining_ = true;
    path_.stop_starting(); // held jobs (eta, rate limit) go back as their timers fire
    try {
      broker_.stop_consuming();         // no more deliveries, not even after a reconnect
    } catch (const std::exception& e) { // lost connection: the broker requeues them anyway
      spdlog::warn("worker: cancelling the consumers failed: {}", e.what());
    }
    if (http_) metrics_.set_gauges(gauges()); // /healthz says 503 from now on
    drain_deadline_ = std::chrono::steady_clock::now() + owner_.options_.shutdown_timeout;
    spdlog::info(
        "worker: warm shutdown; waiting up to {} s for {} running jobs",
        std::chrono::duration_cast<std::chrono::seconds>(owner_.options_.shutdown_timeout).count(),
        path_.counters().running);
  }

  void heartbeat(const std::string& type) {
    const JobPathCounters c = path_.counters();
    events_->worker(type, c.running, c.succeeded + c.failed + c.revoked);
  }

  void on_tick() {
    {
      std::lock_guard lock(owner_.mutex_);
      owner_.counters_ = path_.counters();
    }
    if (http_) metrics_.set_gauges(gauges()); // only /metrics and /healthz read them
    if (events_ && ++ticks_ % kTicksPerHeartbeat == 0) heartbeat("worker-heartbeat");
    if (!draining_ || finishing_) return;
    if (path_.counters().running == 0) return finish();
    if (std::chrono::steady_clock::now() >= drain_deadline_) begin_shutdown(true);
  }

 public:
  // Stops the pool (dropping what did not finish), flushes the store, then
  // closes the connection and every handle and stops the loop.
  void finish() {
    if (finishing_) return;
    finishing_ = true;
    uv_timer_stop(&tick_);
    deferred_.cancel_all(); // held deliveries stay unacked: the broker requeues them
    if (events_) heartbeat("worker-offline");
    if (presence_) presence_->stop(); // removes this worker's row
    if (threads_ != nullptr) threads_->close();
    if (processes_ != nullptr) processes_->close();
    writer_.close(cold_ ? std::chrono::seconds(1) : kStoreFlushGrace, [this](std::size_t) {
      {
        std::lock_guard lock(owner_.mutex_);
        owner_.counters_ = path_.counters();
      }
      broker_.stop();
      close_handle(&wake_);
      close_handle(&tick_);
      for (uv_signal_t* s : {&sigterm_, &sigint_, &sigquit_})
        close_handle(s);
      uv_stop(loop_); // the StoreWriter's handle stays open until it is destroyed
    });
  }

 private:
  Worker& owner_;
  uv_loop_t* loop_;
  broker::Broker broker_;
  store::StoreWriter writer_;
  WriterRecorder recorder_;
  detail::DeferredCalls deferred_;   // before path_, which defers onto it
  ThreadPool* threads_ = nullptr;    // the pool, when it is threads
  ProcessPool* processes_ = nullptr; // the pool, when it is processes
  std::unique_ptr<TaskRunner> runner_;
  JobPath path_;
  std::unique_ptr<detail::WorkerPresence> presence_;
  std::unique_ptr<TaskEvents> events_; // with WorkerOptions::events (-E)
  WorkerMetrics metrics_;
  std::unique_ptr<detail::WorkerHttp> http_; // after metrics_: it reads them until it stops
  std::mt19937_64 rng_{std::random_device{}()};
  uv_async_t wake_{};
  uv_signal_t sigterm_{}, sigint_{}, sigquit_{};
  uv_timer_t tick_{};
  bool draining_ = false;
  bool cold_ = false;
  bool finishing_ = false;
  std::uint64_t ticks_ = 0;
  std::chrono::steady_clock::time_point drain_deadline_{};
};

Worker::Worker(WorkerOptions options, const TaskRegistry& registry)
    : options_(std::move(options)), registry_(registry) {
  if (options_.name.empty()) options_.name = default_worker_name();
  // A worker started before its broker waits for it, logging why, as it does
  // when it loses the connection later (a command such as enqueue fails instead).
  options_.broker.retry_start = true;
  if (options_.concurrency == 0) options_.concurrency = 1;
}

Worker::~Worker() = default;

int Worker::run() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    auto runtime = std::make_unique<Runtime>(*this, &loop);
    try {
      runtime->start();
      std::lock_guard lock(mutex_);
      runtime_ = runtime.get();
      runtime->wake(); // a shutdown() that came before the loop ran
    } catch (const std::exception& e) {
      spdlog::error("worker: cannot start: {}", e.what());
      status = 1;
      runtime->finish();
    }
    uv_run(&loop, UV_RUN_DEFAULT); // until finish() stops it
    std::lock_guard lock(mutex_);
    runtime_ = nullptr;
    if (status == 0 && stuck_) status = kExitStuck;
  }
  uv_run(&loop, UV_RUN_DEFAULT); // the handles the runtime's parts closed on their way out
  uv_loop_close(&loop);
  return status;
}

void Worker::shutdown(bool cold) {
  std::lock_guard lock(mutex_);
  requested_ = std::max(requested_, cold ? 2 : 1);
  if (runtime_ != nullptr) runtime_->wake();
}

std::string default_worker_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid());
}

int Worker::http_port() const {
  std::lock_guard lock(mutex_);
  return http_port_;
}

JobPathCounters Worker::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

} // namespace celeriac::worker
