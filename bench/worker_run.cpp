#include "worker_run.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <uv.h>
#include <pqxx/pqxx>

#include "bare_amqp.hpp"
#include "bench_support.hpp"
#include "celeriac/broker/broker.hpp"
#include "celeriac/store/migrations.hpp"
#include "processes.hpp"
#include "start_stamps.hpp"
#include "worker_roles.hpp"

namespace celeriac::bench {
namespace {

using Clock = std::chrono::steady_clock;

// A celeriac Broker on a loop of the bench's own: publishes the jobs, with
// confirms, the way a client does, and deletes the run's queues at the end.
class JobPublisher {
 public:
  JobPublisher(const std::string& url, std::string queue) : queue_(std::move(queue)) {
    uv_loop_init(&loop_);
    broker::BrokerOptions o;
    o.connection.url = url;
    o.connection.heartbeat = std::chrono::seconds(60); // the bare baseline blocks the loop a while
    o.connection.name = "worker_bench";
    o.topology.queues = {broker::QueueSpec{queue_, false, 9}};
    o.topology.delays = false;
    broker_ = std::make_unique<broker::Broker>(&loop_, o);
    broker_->start();
  }
  ~JobPublisher() {
    for (const auto& q : {queue_, broker::dead_letter_queue(queue_)}) {
      amqp_queue_delete(broker_->connection().native(), broker::Broker::kAdminChannel,
                        amqp_cstring_bytes(q.c_str()), 0, 0);
    }
    broker_->stop();
    broker_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  // bench.noop(INDEX) to the queue, priority 0, so the queue stays FIFO.
  void publish(std::uint64_t index) {
    Job job;
    JobId::Bytes bytes;
    for (auto& b : bytes)
      b = static_cast<std::uint8_t>(rng_());
    job.id = JobId::v4(bytes);
    job.task = "bench.noop";
    job.queue = queue_;
    job.args = nlohmann::json::array({index});
    ++published_;
    broker_->publish(job, [this](const broker::PublishResult& r) {
      if (r.status == broker::PublishStatus::Confirmed)
        ++confirmed_;
      else
        ++failed_;
    });
  }
  void turn() { uv_run(&loop_, UV_RUN_NOWAIT); }
  void wait_confirmed() {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (confirmed_ + failed_ < published_ && Clock::now() < deadline)
      uv_run(&loop_, UV_RUN_ONCE);
    if (confirmed_ != published_)
      throw std::runtime_error(fmt::format("{} of {} publishes confirmed", confirmed_, published_));
  }

 private:
  std::string queue_;
  uv_loop_t loop_{};
  std::unique_ptr<broker::Broker> broker_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uint64_t published_ = 0, confirmed_ = 0, failed_ = 0;
};

// Turns the publisher's loop until jobs [FROM, TO) have all started; throws
// when none starts for 60 s.
void wait_started(JobPublisher& publisher, const StartStamps& stamps, std::uint64_t from,
                  std::uint64_t to) {
  auto last_progress = Clock::now();
  for (std::uint64_t next = from; next < to;) {
    publisher.turn();
    const std::uint64_t before = next;
    while (next < to && stamps.at(next) != 0)
      ++next;
    if (next != before) last_progress = Clock::now();
    if (Clock::now() - last_progress > std::chrono::seconds(60))
      throw std::runtime_error(fmt::format("job {} has not started for 60 s", next));
    if (next < to) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Polls the store every 5 ms until COUNT jobs are SUCCESS; returns when it saw them.
Clock::time_point wait_committed(JobPublisher& publisher, pqxx::connection& conn,
                                 const std::string& schema, long count) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (successes(conn, schema) < count) {
    publisher.turn();
    if (Clock::now() > deadline)
      throw std::runtime_error(fmt::format("fewer than {} jobs SUCCESS after 60 s", count));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Clock::now();
}

struct RemovedAtEnd {
  std::string path;
  ~RemovedAtEnd() { ::unlink(path.c_str()); }
};

double seconds_between(std::uint64_t from_ns, Clock::time_point to) {
  const auto to_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to.time_since_epoch());
  return static_cast<double>(static_cast<std::uint64_t>(to_ns.count()) - from_ns) * 1e-9;
}

// Publishes COUNT jobs from index FIRST at RATE per second, noting each one's publish time.
std::vector<std::uint64_t> publish_paced(JobPublisher& publisher, std::uint64_t first,
                                         std::uint64_t count, double rate) {
  std::vector<std::uint64_t> published(count);
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(i / rate)));
    published[i] = StartStamps::now_ns();
    publisher.publish(first + i);
    publisher.turn();
  }
  return published;
}

void latency_figures(const StartStamps& stamps, const std::vector<std::uint64_t>& published,
                     std::uint64_t first, WorkerRunResult& result) {
  std::vector<double> ms;
  for (std::size_t i = 0; i < published.size(); ++i)
    ms.push_back(static_cast<double>(stamps.at(first + i) - published[i]) * 1e-6);
  const Percentiles p = percentiles(std::move(ms));
  result.p50_ms = p.p50;
  result.p95_ms = p.p95;
  result.p99_ms = p.p99;
  result.max_ms = p.max;
}

void drop_schema(pqxx::connection& conn, const std::string& schema) {
  pqxx::work txn{conn};
  txn.exec0("drop schema " + txn.quote_name(schema) + " cascade");
  txn.commit();
}

} // namespace

WorkerRunResult run_worker(const WorkerRunSpec& spec) {
  const std::string suffix = random_suffix();
  WorkerProcessSpec worker;
  worker.pool = spec.pool;
  worker.concurrency = spec.concurrency;
  worker.prefetch = spec.prefetch;
  worker.store_max_delay_ms = spec.store_max_delay_ms;
  worker.queue = "celeriac.bench.worker." + suffix;
  worker.schema = "celeriac_bench_worker_" + suffix;
  worker.stamps = "/dev/shm/celeriac-bench-" + suffix;
  const std::uint64_t n = spec.jobs;
  StartStamps stamps(worker.stamps, 2 * n, true);
  const RemovedAtEnd stamps_file{worker.stamps};
  pqxx::connection conn{spec.database_url};
  store::migrate(conn, worker.schema);
  WorkerRunResult result;
  {
    JobPublisher publisher(spec.broker_url, worker.queue);
    for (std::uint64_t i = 0; i < n; ++i)
      publisher.publish(i);
    publisher.wait_confirmed();

    const pid_t pid = spawn(spec.executable, worker_process_arguments(worker));
    try {
      wait_started(publisher, stamps, 0, n);
      const auto done = wait_committed(publisher, conn, worker.schema, static_cast<long>(n));
      std::uint64_t first = stamps.at(0);
      for (std::uint64_t i = 0; i < n; ++i)
        first = std::min(first, stamps.at(i));
      result.rate = static_cast<double>(n) / seconds_between(first, done);
      result.cpu_us_per_job = worker_cpu_seconds(pid) * 1e6 / static_cast<double>(n);

      result.paced_rate = result.rate / 2;
      result.paced_jobs = std::clamp<std::uint64_t>(
          static_cast<std::uint64_t>(std::llround(result.paced_rate * spec.latency_seconds)), 100,
          n);
      const auto published = publish_paced(publisher, n, result.paced_jobs, result.paced_rate);
      publisher.wait_confirmed();
      wait_started(publisher, stamps, n, n + result.paced_jobs);
      wait_committed(publisher, conn, worker.schema, static_cast<long>(n + result.paced_jobs));
      latency_figures(stamps, published, n, result);

      result.rss_kib = peak_rss_kib(pid);
      for (pid_t child : children_of(pid))
        result.children_rss_kib += peak_rss_kib(child);
    } catch (...) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw;
    }
    stop_worker(pid);
  }
  drop_schema(conn, worker.schema);
  return result;
}

double run_bare_baseline(const WorkerRunSpec& spec) {
  const std::string queue = "celeriac.bench.bare." + random_suffix();
  JobPublisher publisher(spec.broker_url, queue);
  for (std::uint64_t i = 0; i < spec.jobs; ++i)
    publisher.publish(i);
  publisher.wait_confirmed();
  return run_bare_consumer(spec.broker_url, queue, spec.jobs, effective_prefetch(spec)).rate();
}

} // namespace celeriac::bench
