#include "engine_run.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <pqxx/notification>
#include <pqxx/pqxx>

#include "bare_amqp.hpp"
#include "celeriac/broker/topology.hpp"
#include "celeriac/client.hpp"
#include "celeriac/store/job_waiter.hpp"
#include "celeriac/store/migrations.hpp"
#include "processes.hpp"
#include "start_stamps.hpp"
#include "worker_roles.hpp"

namespace celeriac::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A queue and a schema of the run's own, removed at the end whatever happens.
struct Scratch {
  std::string url;
  std::string database_url;
  std::string queue;
  std::string schema;
  std::string stamps;

  Scratch(const EngineSpec& spec, const char* kind)
      : url(spec.broker_url), database_url(spec.database_url) {
    const std::string suffix = random_suffix();
    queue = fmt::format("celeriac.bench.{}.{}", kind, suffix);
    schema = fmt::format("celeriac_bench_{}_{}", kind, suffix);
    stamps = "/dev/shm/celeriac-bench-" + suffix;
    pqxx::connection conn{database_url};
    store::migrate(conn, schema);
  }
  ~Scratch() {
    ::unlink(stamps.c_str());
    try {
      BareConnection admin(url, std::chrono::seconds(0));
      delete_queue(admin, queue);
      delete_queue(admin, broker::dead_letter_queue(queue));
    } catch (const std::exception& e) {
      fmt::print(stderr, "engine_bench: removing {}: {}\n", queue, e.what());
    }
    try {
      pqxx::connection conn{database_url};
      pqxx::work txn{conn};
      txn.exec0("drop schema if exists " + txn.quote_name(schema) + " cascade");
      txn.commit();
    } catch (const std::exception& e) {
      fmt::print(stderr, "engine_bench: dropping {}: {}\n", schema, e.what());
    }
  }
};

Config client_config(const Scratch& s) {
  Config c;
  c.broker.url = s.url;
  c.database.url = s.database_url;
  c.database.schema = s.schema;
  QueueConfig q;
  q.name = s.queue;
  c.queues = {q};
  return c;
}

// The worker process under test; SIGKILLed if the run throws before stop().
class WorkerProcess {
 public:
  WorkerProcess(const EngineSpec& spec, const Scratch& s, PoolKind pool, std::size_t concurrency) {
    WorkerProcessSpec w;
    w.pool = pool;
    w.concurrency = concurrency;
    w.prefetch = spec.prefetch;
    w.queue = s.queue;
    w.schema = s.schema;
    w.stamps = s.stamps;
    pid_ = spawn(spec.executable, worker_process_arguments(w));
  }
  ~WorkerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }
  void stop() {
    const pid_t pid = std::exchange(pid_, 0);
    stop_worker(pid);
  }

 private:
  pid_t pid_ = 0;
};

std::uint32_t consumers_of(BareConnection& admin, const std::string& queue) {
  const amqp_queue_declare_ok_t* ok =
      amqp_queue_declare(admin.native(), BareConnection::kChannel,
                         amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
  admin.check("queue.declare (passive)");
  return ok->consumer_count;
}

// Waits until the worker consumes the queue and its pool is complete.
void wait_ready(const Scratch& s, pid_t pid, PoolKind pool, std::size_t concurrency) {
  BareConnection admin(s.url, std::chrono::seconds(0));
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (consumers_of(admin, s.queue) == 0 ||
         (pool == PoolKind::Process && children_of(pid).size() < concurrency)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid)
      throw std::runtime_error(fmt::format("the worker exited with status {:#x}", status));
    if (Clock::now() > deadline) throw std::runtime_error("the worker is not consuming after 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The largest RSS seen of the worker and of any one child, sampled on demand.
struct MemorySampler {
  pid_t pid;
  long worker_kib = 0;
  long child_kib = 0;
  std::size_t children = 0;
  Clock::time_point next{};

  void sample(bool now = false) {
    if (!now && Clock::now() < next) return;
    next = Clock::now() + std::chrono::milliseconds(50);
    worker_kib = std::max(worker_kib, rss_kib(pid));
    const auto kids = children_of(pid);
    children = std::max(children, kids.size());
    for (pid_t child : kids)
      child_kib = std::max(child_kib, rss_kib(child));
  }
};

// Waits until jobs [FROM, TO) have all started, watching the StartStamps
// (shared memory: no load on the servers) and sampling memory.
void wait_started(const StartStamps& stamps, std::uint64_t from, std::uint64_t to,
                  MemorySampler& memory) {
  auto last_progress = Clock::now();
  for (std::uint64_t next = from; next < to;) {
    const std::uint64_t before = next;
    while (next < to && stamps.at(next) != 0)
      ++next;
    if (next != before) last_progress = Clock::now();
    if (Clock::now() - last_progress > std::chrono::seconds(60))
      throw std::runtime_error(fmt::format("job {} has not started for 60 s", next));
    memory.sample();
    if (next < to) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Waits for COUNT jobs SUCCESS, polling every 5 ms and sampling memory;
// returns when it saw them. A count(*) per poll costs the database, so the
// throughput phase calls this only once every job has started.
Clock::time_point wait_committed(pqxx::connection& conn, const std::string& schema, long count,
                                 MemorySampler& memory) {
  auto last_progress = Clock::now();
  long seen = 0;
  for (;;) {
    const long now_seen = successes(conn, schema);
    if (now_seen >= count) return Clock::now();
    if (now_seen != seen) last_progress = Clock::now();
    seen = now_seen;
    if (Clock::now() - last_progress > std::chrono::seconds(60))
      throw std::runtime_error(
          fmt::format("{} of {} jobs SUCCESS, none more for 60 s", seen, count));
    memory.sample();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// LISTENs on the store's job-done channel and notes when each job's
// notification arrived: the moment a client waiting on the job would wake.
class DoneListener {
 public:
  DoneListener(const std::string& database_url, const std::string& schema) {
    std::promise<void> listening;
    auto ready = listening.get_future();
    thread_ = std::thread([this, database_url, schema, p = std::move(listening)]() mutable {
      try {
        pqxx::connection conn{database_url};
        Receiver receiver(conn, store::job_done_channel(schema), *this);
        p.set_value();
        while (!stop_.load())
          conn.await_notification(0, 100'000);
      } catch (...) {
        try {
          p.set_exception(std::current_exception());
        } catch (const std::future_error&) {
          failed_ = true; // lost after it started: the counts will not add up
        }
      }
    });
    try {
      ready.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ~DoneListener() {
    stop_ = true;
    thread_.join();
  }
  DoneListener(const DoneListener&) = delete;
  DoneListener& operator=(const DoneListener&) = delete;

  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return done_.size();
  }
  bool failed() const { return failed_; }
  // When job ID's notification arrived (ns, monotonic); 0 if it has not.
  std::uint64_t at(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto it = done_.find(id);
    return it == done_.end() ? 0 : it->second;
  }

 private:
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, const std::string& channel, DoneListener& owner)
        : pqxx::notification_receiver(c, channel), owner_(owner) {}
    void operator()(const std::string& payload, int) override {
      const std::uint64_t now = StartStamps::now_ns();
      std::lock_guard lock(owner_.mutex_);
      owner_.done_.try_emplace(payload, now);
    }
    DoneListener& owner_;
  };

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> done_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

std::vector<EnqueueRequest> noop_requests(const std::string& queue, std::uint64_t first,
                                          std::uint64_t count) {
  std::vector<EnqueueRequest> requests(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    requests[i].task = "bench.noop";
    requests[i].args = nlohmann::json::array({first + i});
    requests[i].options.queue = queue;
  }
  return requests;
}

// Enqueues COUNT jobs from index FIRST at RATE per second, in a batch every
// 5 ms; each job's enqueue time is its batch's call. Returns the job ids and
// their enqueue times (ns, monotonic).
struct Paced {
  std::vector<JobId> ids;
  std::vector<std::uint64_t> enqueued;
  double seconds = 0;
};
Paced enqueue_paced(Client& client, const std::string& queue, std::uint64_t first,
                    std::uint64_t count, double rate) {
  Paced paced;
  constexpr auto kTick = std::chrono::milliseconds(5);
  const auto start = Clock::now();
  auto tick = start;
  while (paced.ids.size() < count) {
    std::this_thread::sleep_until(tick);
    tick += kTick;
    const auto due = std::min<std::uint64_t>(
        count, static_cast<std::uint64_t>(rate * seconds(Clock::now() - start)) + 1);
    if (due <= paced.ids.size()) continue;
    const std::uint64_t from = paced.ids.size();
    const auto requests = noop_requests(queue, first + from, due - from);
    const std::uint64_t at = StartStamps::now_ns();
    for (JobId id : client.enqueue_many(requests)) {
      paced.ids.push_back(id);
      paced.enqueued.push_back(at);
    }
  }
  paced.seconds = seconds(Clock::now() - start);
  return paced;
}

// What each process used since BEFORE, per job of JOBS run in SECONDS; the
// worker used WORKER_CPU seconds of it.
CpuShare cpu_share(const CpuSnapshot& before, const EngineSpec& spec, double worker_cpu,
                   std::uint64_t jobs, double seconds) {
  const auto used = cpu_used_since(before);
  double all = 0;
  for (const auto& [command, cpu] : used)
    all += cpu;
  const auto of = [&](const std::string& command) {
    const auto it = used.find(command);
    return it == used.end() ? 0.0 : it->second;
  };
  const auto per_job = [&](double cpu) { return cpu * 1e6 / static_cast<double>(jobs); };
  // This program's command is the worker's too (the kernel keeps 15 characters of it).
  const std::string self = std::filesystem::path(spec.executable).filename().string().substr(0, 15);
  CpuShare share;
  share.worker_us_per_job = per_job(worker_cpu);
  share.broker_us_per_job = per_job(of("beam.smp"));
  share.database_us_per_job = per_job(of("postgres"));
  share.client_us_per_job = per_job(of(self) - worker_cpu);
  share.busy_cores = all / seconds;
  return share;
}

} // namespace

std::uint16_t effective_prefetch(const EngineSpec& spec) {
  return spec.prefetch > 0 ? spec.prefetch : static_cast<std::uint16_t>(spec.concurrency);
}

CeilingResult run_broker_ceiling(const EngineSpec& spec, std::uint16_t prefetch) {
  const std::string queue = "celeriac.bench.ceiling." + random_suffix();
  BareConnection admin(spec.broker_url, std::chrono::seconds(0));
  declare_queue(admin, queue);
  RunSpec publish;
  publish.url = spec.broker_url;
  publish.queue = queue;
  publish.messages = spec.jobs;
  publish.window = 1000;
  publish.size = 300;
  RunResult published;
  Clock::time_point start{};
  std::thread publisher;
  CeilingResult result;
  result.prefetch = prefetch;
  try {
    const CpuSnapshot before = cpu_snapshot();
    const ConsumeResult consumed =
        run_bare_consumer(spec.broker_url, queue, spec.jobs, prefetch, [&] {
          start = Clock::now();
          publisher = std::thread([&] { published = run_bare_publisher(publish); });
        });
    publisher.join();
    if (!published.clean(spec.jobs))
      throw std::runtime_error(fmt::format("the ceiling's publisher: {} of {} confirmed {}",
                                           published.confirmed, spec.jobs, published.problem));
    result.rate = static_cast<double>(consumed.acked) / seconds(consumed.finished - start);
    {
      const auto used = cpu_used_since(before);
      double all = 0;
      for (const auto& [command, cpu] : used)
        all += cpu;
      const auto beam = used.find("beam.smp");
      result.broker_us_per_msg =
          (beam == used.end() ? 0.0 : beam->second) * 1e6 / static_cast<double>(spec.jobs);
      result.busy_cores = all / seconds(consumed.finished - start);
    }

    // The drain: a backlog first, then a consumer on it.
    const RunResult backlog = run_bare_publisher(publish);
    if (!backlog.clean(spec.jobs))
      throw std::runtime_error(fmt::format("the drain's publisher: {} of {} confirmed {}",
                                           backlog.confirmed, spec.jobs, backlog.problem));
    const CpuSnapshot drain_before = cpu_snapshot();
    result.drain_rate = run_bare_consumer(spec.broker_url, queue, spec.jobs, prefetch).rate();
    const auto drained = cpu_used_since(drain_before);
    const auto beam = drained.find("beam.smp");
    result.drain_broker_us_per_msg =
        (beam == drained.end() ? 0.0 : beam->second) * 1e6 / static_cast<double>(spec.jobs);
  } catch (...) {
    if (publisher.joinable()) publisher.join();
    delete_queue(admin, queue);
    throw;
  }
  delete_queue(admin, queue);
  return result;
}

EndToEndResult run_end_to_end(const EngineSpec& spec, PoolKind pool) {
  Scratch scratch(spec, pool == PoolKind::Process ? "e2e_process" : "e2e_thread");
  const std::uint64_t n = spec.jobs;
  // Jobs [0, N) drain, [N, 2N) end to end, then at most N paced ones.
  StartStamps stamps(scratch.stamps, 3 * n, true);
  pqxx::connection conn{spec.database_url};
  EndToEndResult result;
  result.pool = pool;
  result.prefetch = effective_prefetch(spec);

  ClientOptions options;
  options.connection_name = "engine_bench";
  Client client(client_config(scratch), options);
  {
    // Idle memory: a worker consuming the empty queue, stopped again.
    WorkerProcess idle(spec, scratch, pool, spec.concurrency);
    wait_ready(scratch, idle.pid(), pool, spec.concurrency);
    MemorySampler memory{idle.pid()};
    memory.sample(true);
    result.rss_idle_kib = memory.worker_kib;
    result.child_rss_idle_kib = memory.child_kib;
    idle.stop();
  }

  // Drain: N jobs queued before the worker starts (not timed), the way
  // celery_bench runs Celery; from the first task start to the last SUCCESS.
  client.enqueue_many(noop_requests(scratch.queue, 0, n));
  // The drain's CPU is counted from before the worker starts (its start, a
  // process pool's children included, is in it), over that whole span.
  const CpuSnapshot drain_before = cpu_snapshot();
  const auto drain_counted_from = Clock::now();
  WorkerProcess worker(spec, scratch, pool, spec.concurrency);
  MemorySampler memory{worker.pid()};
  wait_started(stamps, 0, n, memory);
  const auto drained = wait_committed(conn, scratch.schema, static_cast<long>(n), memory);
  std::uint64_t first = stamps.at(0);
  for (std::uint64_t i = 0; i < n; ++i)
    first = std::min(first, stamps.at(i));
  const auto drained_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(drained.time_since_epoch()).count());
  result.drain_rate = static_cast<double>(n) / (static_cast<double>(drained_ns - first) * 1e-9);
  result.drain_cpu = cpu_share(drain_before, spec, worker_cpu_seconds(worker.pid()), n,
                               seconds(drained - drain_counted_from));

  // End to end: N more jobs handed to the client at once (enqueue_many
  // pipelines them through the confirm window) while the worker runs them.
  const double cpu_before = worker_cpu_seconds(worker.pid());
  const CpuSnapshot machine_before = cpu_snapshot();
  const auto start = Clock::now();
  client.enqueue_many(noop_requests(scratch.queue, n, n));
  wait_started(stamps, n, 2 * n, memory);
  const auto done = wait_committed(conn, scratch.schema, static_cast<long>(2 * n), memory);
  result.rate = static_cast<double>(n) / seconds(done - start);
  const double worker_cpu = worker_cpu_seconds(worker.pid()) - cpu_before;
  result.cpu_us_per_job = worker_cpu * 1e6 / static_cast<double>(n);
  result.cpu = cpu_share(machine_before, spec, worker_cpu, n, seconds(done - start));

  // Latency at half that rate.
  {
    DoneListener listener(spec.database_url, scratch.schema);
    const double rate = result.rate / 2;
    const auto count = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(std::llround(rate * spec.latency_seconds)), 100, n);
    const Paced paced = enqueue_paced(client, scratch.queue, 2 * n, count, rate);
    result.paced_jobs = count;
    result.paced_rate = static_cast<double>(count) / paced.seconds;
    wait_started(stamps, 2 * n, 2 * n + count, memory);
    wait_committed(conn, scratch.schema, static_cast<long>(2 * n + count), memory);
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (listener.count() < count && Clock::now() < deadline && !listener.failed())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<double> to_start, to_done;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t started = stamps.at(2 * n + i);
      const std::uint64_t finished = listener.at(paced.ids[i].str());
      if (started == 0 || finished == 0)
        throw std::runtime_error(fmt::format("paced job {} has no {}", paced.ids[i].str(),
                                             started == 0 ? "start" : "done notification"));
      to_start.push_back(static_cast<double>(started - paced.enqueued[i]) * 1e-6);
      to_done.push_back(static_cast<double>(finished - paced.enqueued[i]) * 1e-6);
    }
    result.to_start = percentiles(std::move(to_start));
    result.to_done = percentiles(std::move(to_done));
  }
  memory.sample(true);
  result.rss_load_kib = memory.worker_kib;
  result.child_rss_load_kib = memory.child_kib;
  result.children = memory.children;
  worker.stop();
  const long stored = successes(conn, scratch.schema);
  if (stored != static_cast<long>(2 * n + result.paced_jobs))
    throw std::runtime_error(
        fmt::format("{} jobs SUCCESS, {} enqueued", stored, 2 * n + result.paced_jobs));
  return result;
}

DomainResult run_domain_scale(const EngineSpec& spec, PoolKind pool, std::size_t jobs,
                              std::size_t concurrency, double job_seconds) {
  Scratch scratch(spec, pool == PoolKind::Process ? "domain_process" : "domain_thread");
  StartStamps stamps(scratch.stamps, 1, true);
  pqxx::connection conn{spec.database_url};
  ClientOptions options;
  options.connection_name = "engine_bench";
  Client client(client_config(scratch), options);
  EngineSpec worker_spec = spec;
  worker_spec.prefetch = 0; // the worker's default: as many as the pool runs
  WorkerProcess worker(worker_spec, scratch, pool, concurrency);
  wait_ready(scratch, worker.pid(), pool, concurrency);

  std::vector<EnqueueRequest> requests(jobs);
  for (auto& r : requests) {
    r.task = "bench.sleep";
    r.args = nlohmann::json::array({job_seconds});
    r.options.queue = scratch.queue;
  }
  MemorySampler memory{worker.pid()};
  const auto start = Clock::now();
  client.enqueue_many(requests);
  const auto done = wait_committed(conn, scratch.schema, static_cast<long>(jobs), memory);
  worker.stop();
  DomainResult result;
  result.pool = pool;
  result.jobs = jobs;
  result.concurrency = concurrency;
  result.job_seconds = job_seconds;
  result.wall_seconds = seconds(done - start);
  return result;
}

} // namespace celeriac::bench
