#include "chaos_phase.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "celeriac/client.hpp"
#include "job_mix.hpp"
#include "phase_store.hpp"
#include "poison.hpp"
#include "verdict.hpp"
#include "worker_fleet.hpp"

namespace celeriac::chaos {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kBatch = 200;

std::string random_hex(int digits) {
  std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < digits; ++i)
    out += "0123456789abcdef"[rng() % 16];
  return out;
}

JobId random_id(std::mt19937_64& rng) {
  JobId::Bytes bytes{};
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  return JobId::v4(bytes);
}

// Lines go out whole, whichever thread prints them.
void say(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  std::cout << line << std::endl;
}

class Phase {
 public:
  Phase(const ChaosOptions& options, std::string name);
  PhaseVerdict run();

 private:
  double elapsed() const { return Seconds(Clock::now() - started_).count(); }
  bool past_deadline() const { return Clock::now() >= deadline_; }
  void set_up();
  void enqueue_all(Client& client, RawBroker* raw);
  bool enqueue_batch(Client& client, int first, int count);
  void inject_faults();
  bool restart(const std::string& service);
  void wait_until_done();
  long terminal_count();
  PhaseVerdict judge(const FleetReport& fleet, const DeadLetters& dead);
  std::unordered_map<std::string, int> note_counts() const;
  void progress(const char* stage);

  const ChaosOptions& options_;
  std::string name_;
  bool killer_;
  bool restarts_;
  bool poisoned_;
  std::string hex_ = random_hex(10);
  std::string schema_ = "celeriac_chaos_" + hex_;
  std::vector<std::string> queues_;
  std::filesystem::path dir_;
  std::string note_path_;
  std::string config_path_;
  std::string config_text_;
  Clock::time_point started_ = Clock::now();
  Clock::time_point deadline_;
  Clock::time_point last_progress_{};
  std::unordered_map<std::string, JobKind> expected_; // enqueued and confirmed, by id
  std::vector<PoisonMessage> poison_;
  std::size_t poison_sent_ = 0;
  // Written by the faults thread (restarts), read by the phase's own.
  std::atomic<bool> faults_done_{true};
  std::atomic<bool> faults_failed_{false};
  WorkerFleet* fleet_ = nullptr;
  long terminal_ = 0;
};

Phase::Phase(const ChaosOptions& options, std::string name)
    : options_(options),
      name_(std::move(name)),
      killer_(name_ == "kills" || name_ == "restarts"),
      restarts_(name_ == "restarts"),
      poisoned_(name_ == "poison"),
      deadline_(started_ + std::chrono::duration_cast<Clock::duration>(options.deadline)) {
  for (const char* tier : {"high", "default", "low"})
    queues_.push_back(fmt::format("chaos.{}.{}", hex_, tier));
}

void Phase::set_up() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / ("celeriac-chaos-" + name_ + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  note_path_ = (dir_ / "notes.txt").string();
  config_path_ = (dir_ / "celeriac.toml").string();
  std::string toml;
  for (const auto& q : queues_)
    toml += fmt::format("[queues.\"{}\"]\n", q);
  toml += "\n[worker]\nshutdown_timeout = \"30s\"\n\n";
  // Kills come far more often here than in life: a job may lose its worker
  // several times without being broken, so WorkerLost waits for ten.
  toml += "[tasks.\"demo.*\"]\nmax_redeliveries = 10\n\n";
  toml +=
      "[tasks.\"demo.fail\"]\n"
      "retry = { max_retries = 3, backoff = \"fixed\", delay = \"1s\", jitter = \"none\" }\n";
  config_text_ = toml;
  std::ofstream(config_path_) << toml;
  create_schema(options_.database_url, schema_);
}

void Phase::progress(const char* stage) {
  if (Clock::now() - last_progress_ < std::chrono::seconds(5)) return;
  last_progress_ = Clock::now();
  terminal_count();
  const FleetReport fleet = fleet_ ? fleet_->report() : FleetReport{};
  say(fmt::format("   [{} +{:.0f}s] {}: {} enqueued, {} terminal, {} kills, {} worker starts",
                  name_, elapsed(), stage, expected_.size(), terminal_, fleet.kills, fleet.starts));
}

// Paced: batch b goes out at duration * b / batches; a batch the broker did
// not confirm is sent again with the same ids until the deadline.
void Phase::enqueue_all(Client& client, RawBroker* raw) {
  const int batches = (options_.jobs + kBatch - 1) / kBatch;
  const std::size_t poison_total = poison_.size();
  for (int b = 0; b < batches && !past_deadline(); ++b) {
    const auto due = started_ + std::chrono::duration_cast<Clock::duration>(
                                    options_.duration * (static_cast<double>(b) / batches));
    while (Clock::now() < due) {
      if (raw) raw->keep_alive();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const int first = b * kBatch;
    if (!enqueue_batch(client, first, std::min(kBatch, options_.jobs - first))) break;
    // Poison goes out between the batches, spread evenly over the run.
    const std::size_t poison_due =
        poison_total * static_cast<std::size_t>(b + 1) / static_cast<std::size_t>(batches);
    if (raw && poison_due > poison_sent_) {
      const std::vector<PoisonMessage> slice(
          poison_.begin() + static_cast<std::ptrdiff_t>(poison_sent_),
          poison_.begin() + static_cast<std::ptrdiff_t>(poison_due));
      if (!raw->publish(slice, Seconds(30))) say("   poison publish not confirmed in 30 s");
      poison_sent_ = poison_due;
    }
    progress("enqueueing");
  }
}

bool Phase::enqueue_batch(Client& client, int first, int count) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::vector<EnqueueRequest> requests;
  for (int i = first; i < first + count; ++i) {
    const JobKind kind = job_kind(i);
    EnqueueRequest r;
    r.task = task_of(kind);
    r.args = args_of(kind, note_path_);
    r.options.queue = queues_[static_cast<std::size_t>(i % 3)];
    r.options.priority = i % 10;
    r.options.id = random_id(rng);
    requests.push_back(std::move(r));
  }
  while (!past_deadline()) {
    try {
      client.enqueue_many(requests);
      for (int i = 0; i < count; ++i)
        expected_[requests[static_cast<std::size_t>(i)].options.id->str()] = job_kind(first + i);
      return true;
    } catch (const std::exception& e) {
      say(fmt::format("   [{} +{:.0f}s] enqueue of jobs {}..{} failed, sent again: {}", name_,
                      elapsed(), first, first + count - 1, e.what()));
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  return false;
}

bool Phase::restart(const std::string& service) {
  auto services = [&](const std::string& verb) {
    const std::string command = fmt::format("'{}' {} {} >>'{}/services.log' 2>&1",
                                            options_.services, verb, service, dir_.string());
    return std::system(command.c_str()) == 0;
  };
  const double t0 = elapsed();
  const bool stopped = services("down");
  say(fmt::format("   [{} +{:.1f}s] {} stopped{} (took {:.1f} s)", name_, elapsed(), service,
                  stopped ? "" : " FAILED", elapsed() - t0));
  std::this_thread::sleep_for(options_.outage);
  const double t1 = elapsed();
  const bool started = services("up");
  say(fmt::format("   [{} +{:.1f}s] {} started{} (took {:.1f} s)", name_, elapsed(), service,
                  started ? "" : " FAILED", elapsed() - t1));
  return stopped && started;
}

// RabbitMQ once, a fifth into the run; PostgreSQL once, past the middle.
void Phase::inject_faults() {
  auto sleep_until = [&](double at) {
    while (elapsed() < at && !past_deadline())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  };
  sleep_until(0.2 * options_.duration.count());
  bool ok = restart("rabbitmq");
  sleep_until(std::max(0.55 * options_.duration.count(), elapsed() + 2));
  ok = restart("postgres") && ok;
  faults_failed_ = !ok;
  faults_done_ = true;
}

long Phase::terminal_count() {
  const auto rows = job_rows(options_.database_url, schema_);
  if (!rows) return terminal_;
  long n = 0;
  for (const auto& row : *rows)
    if (expected_.contains(row.id) &&
        (row.state == "SUCCESS" || row.state == "FAILURE" || row.state == "REVOKED"))
      ++n;
  return terminal_ = n;
}

void Phase::wait_until_done() {
  while (!past_deadline()) {
    if (terminal_count() == static_cast<long>(expected_.size()) && faults_done_) return;
    progress("draining");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  say(fmt::format("   [{} +{:.0f}s] deadline: {} of {} jobs terminal", name_, elapsed(), terminal_,
                  expected_.size()));
}

std::unordered_map<std::string, int> Phase::note_counts() const {
  std::unordered_map<std::string, int> counts;
  std::ifstream in(note_path_);
  for (std::string line; std::getline(in, line);)
    ++counts[line];
  return counts;
}

PhaseVerdict Phase::judge(const FleetReport& fleet, const DeadLetters& dead) {
  VerdictInput in;
  in.phase = name_;
  in.jobs_wanted = options_.jobs;
  in.expected = expected_;
  in.rows = job_rows(options_.database_url, schema_).value_or(std::vector<JobRow>{});
  in.notes = note_counts();
  in.poison = poison_;
  in.dead = dead;
  in.fleet = fleet;
  in.workers = options_.workers;
  in.faults_failed = faults_failed_;
  in.seconds = elapsed();
  PhaseVerdict verdict = chaos::judge(in);
  if (!verdict.pass) verdict.details.push_back(fmt::format("logs kept in {}", dir_.string()));
  return verdict;
}

PhaseVerdict Phase::run() {
  set_up();
  say(fmt::format("== chaos {}: {} jobs over {:.0f} s on {}, schema {}, logs in {}", name_,
                  options_.jobs, options_.duration.count(), fmt::join(queues_, ", "), schema_,
                  dir_.string()));
  Config config = parse_config(config_text_, config_path_);
  apply_environment(config, process_environment());
  apply_override(config, "database.schema", schema_);
  ClientOptions client_options;
  client_options.track_pending = false;
  client_options.publish_timeout = std::chrono::seconds(20);
  client_options.connection_name = "celeriac-chaos-client";
  Client client(config, client_options);
  std::unique_ptr<RawBroker> raw =
      poisoned_ ? std::make_unique<RawBroker>(options_, queues_) : nullptr;
  if (poisoned_) poison_ = make_poison(queues_, options_.poison_rounds);

  FleetSpec spec{options_.celeriac, config_path_,
                 schema_,           fmt::format("{}", fmt::join(queues_, ",")),
                 options_.workers,  options_.concurrency,
                 dir_.string()};
  WorkerFleet fleet(spec, options_.seed);
  fleet_ = &fleet;
  fleet.start();
  if (killer_) fleet.arm_killer(options_.kill_min, options_.kill_max);
  std::thread faults;
  if (restarts_) {
    faults_done_ = false;
    faults = std::thread([this] { inject_faults(); });
  }
  enqueue_all(client, raw.get());
  wait_until_done();
  if (faults.joinable()) faults.join();
  fleet.disarm_killer();
  fleet.wait_healthy(Seconds(60));
  fleet.stop(Seconds(40));
  const FleetReport report = fleet.report();
  fleet_ = nullptr;

  if (!raw) raw = std::make_unique<RawBroker>(options_, queues_);
  std::vector<std::string> markers;
  for (const auto& p : poison_)
    markers.push_back(p.marker);
  const DeadLetters dead = raw->drain_dead(markers, Seconds(30));
  PhaseVerdict verdict = judge(report, dead);
  if (!options_.keep) {
    raw->delete_queues();
    drop_schema(options_.database_url, schema_);
    if (verdict.pass) std::filesystem::remove_all(dir_);
  }
  return verdict;
}

} // namespace

PhaseVerdict run_phase(const ChaosOptions& options, const std::string& phase) {
  return Phase(options, phase).run();
}

} // namespace celeriac::chaos
