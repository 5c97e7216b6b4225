#include "worker_roles.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/worker.hpp"
#include "start_stamps.hpp"

namespace celeriac::bench {
namespace {

// How the worker process tells its pool children where the stamps are.
constexpr const char* kStampsVariable = "CELERIAC_BENCH_STAMPS";

std::string required(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    throw std::runtime_error(fmt::format("{} is not set", name));
  return value;
}

TaskRegistry noop_registry(StartStamps& stamps) {
  TaskRegistry registry;
  registry.add("bench.noop", [&stamps](TaskContext& ctx) -> nlohmann::json {
    stamps.note(ctx.args().at(0).get<std::size_t>());
    return nullptr;
  });
  // The domain-scale job: a report that takes SECONDS, mostly waiting.
  registry.add("bench.sleep", [](TaskContext& ctx) -> nlohmann::json {
    std::this_thread::sleep_for(std::chrono::duration<double>(ctx.args().at(0).get<double>()));
    return nullptr;
  });
  return registry;
}

int serve_worker(const std::vector<std::string>& a) {
  if (a.size() != 7) throw std::runtime_error("--serve-worker wants 7 arguments");
  ::setenv(kStampsVariable, a[5].c_str(), 1); // before any thread: the children inherit it
  StartStamps stamps(a[5], 0, false);
  const TaskRegistry registry = noop_registry(stamps);
  worker::WorkerOptions o;
  o.pool = a[0] == "process" ? PoolKind::Process : PoolKind::Thread;
  o.concurrency = std::stoul(a[1]);
  o.prefetch = static_cast<std::uint16_t>(std::stoul(a[2]));
  o.child_executable = std::filesystem::read_symlink("/proc/self/exe");
  o.child_arguments = {"--pool-child"};
  o.broker.connection.url = required("CELERIAC_BROKER_URL");
  o.broker.topology.queues = {broker::QueueSpec{a[3], false, 9}};
  o.broker.topology.delays = false;
  o.store.database_url = required("CELERIAC_DATABASE_URL");
  o.store.schema = a[4];
  if (const int delay = std::stoi(a[6]); delay >= 0)
    o.store.max_delay = std::chrono::milliseconds(delay);
  o.queues = {a[3]};
  o.shutdown_timeout = std::chrono::seconds(30);
  worker::Worker worker(std::move(o), registry);
  return worker.run();
}

int pool_child() {
  StartStamps stamps(required(kStampsVariable), 0, false);
  return worker::run_pool_child(noop_registry(stamps), 3, 4);
}

} // namespace

std::vector<std::string> worker_process_arguments(const WorkerProcessSpec& spec) {
  return {"--serve-worker",
          spec.pool == PoolKind::Process ? "process" : "thread",
          std::to_string(spec.concurrency),
          std::to_string(spec.prefetch),
          spec.queue,
          spec.schema,
          spec.stamps,
          std::to_string(spec.store_max_delay_ms)};
}

std::optional<int> run_role(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  const std::string role = argv[1];
  if (role == "--pool-child") return pool_child();
  if (role == "--serve-worker") return serve_worker({argv + 2, argv + argc});
  return std::nullopt;
}

} // namespace celeriac::bench
