// `celeriac worker`: the worker daemon, and `celeriac __pool-child`, the mode
// the process pool starts this same binary in (docs/worker.md).
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <string_view>

#include <spdlog/spdlog.h>

#include "celeriac/tasks/demo.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/worker.hpp"
#include "celeriac/worker/worker_config.hpp"
#include "commands.hpp"
#include "log_format.hpp"

namespace celeriac::cli {
namespace {

// The tasks this binary knows. An application that builds its own worker
// binary registers its own here (docs/worker.md).
TaskRegistry builtin_tasks() {
  TaskRegistry registry;
  tasks::register_demo_tasks(registry);
  return registry;
}

std::string own_executable() {
  std::array<char, PATH_MAX> path{};
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  if (n <= 0) throw CommandFailed("cannot find this program's path in /proc/self/exe");
  return std::string(path.data(), static_cast<std::size_t>(n));
}

// Each flag is the [worker] key it overrides, so it is validated (and its
// error worded) exactly like the file and the environment.
constexpr std::array<std::pair<const char*, const char*>, 9> kFlagKeys{{
    {"http", "worker.http"},
    {"log-format", "worker.log_format"},
    {"queues", "worker.queues"},
    {"concurrency", "worker.concurrency"},
    {"pool", "worker.pool"},
    {"prefetch", "worker.prefetch"},
    {"max-tasks-per-child", "worker.max_tasks_per_child"},
    {"max-memory-per-child", "worker.max_memory_per_child"},
    {"shutdown-timeout", "worker.shutdown_timeout"},
}};

} // namespace

int run_worker(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Run jobs from the queues until SIGTERM (warm) or SIGQUIT (cold)", "");
  options.add_options()("Q,queues", "queues to consume, most preferred first: high,default,low",
                        cxxopts::value<std::string>())(
      "c,concurrency", "pool size (default: the number of cores)", cxxopts::value<std::string>())(
      "pool", "process (default) or thread", cxxopts::value<std::string>())(
      "prefetch", "unacked jobs per queue (default: the pool size)", cxxopts::value<std::string>())(
      "max-tasks-per-child", "recycle a pool child after this many jobs",
      cxxopts::value<std::string>())("max-memory-per-child",
                                     "recycle a pool child above this RSS, e.g. 512MiB",
                                     cxxopts::value<std::string>())(
      "shutdown-timeout", "how long a warm shutdown waits for running jobs, e.g. 60s",
      cxxopts::value<std::string>())("http", "serve /healthz and /metrics on HOST:PORT",
                                     cxxopts::value<std::string>())(
      "E,events", "send Celery task events on the celeryev exchange (for Flower)")(
      "log-format", "text (default) or json: one JSON object per line",
      cxxopts::value<std::string>());
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  Config config = load_config(*parsed, invocation);
  for (const auto& [flag, key] : kFlagKeys) {
    if (const auto value = string_option(*parsed, flag)) apply_override(config, key, *value);
  }
  if (flag_option(*parsed, "events")) apply_override(config, "worker.events", "true");
  worker::WorkerOptions worker_options = worker::worker_options(config);
  worker_options.child_executable = own_executable();
  worker_options.child_arguments = {"__pool-child"};
  spdlog::set_level(spdlog::level::info);
  use_log_format(config.worker.log_format);
  // The pool children log to the same stream, in the same format.
  if (config.worker.log_format == LogFormat::Json) ::setenv("CELERIAC_LOG_FORMAT", "json", 1);
  const TaskRegistry registry = builtin_tasks();
  worker::Worker worker(std::move(worker_options), registry);
  return worker.run() == 0 ? kExitOk : kExitFailure;
}

int run_pool_child_mode() {
  if (const char* format = std::getenv("CELERIAC_LOG_FORMAT");
      format && format == std::string_view("json"))
    use_log_format(LogFormat::Json);
  const TaskRegistry registry = builtin_tasks();
  return worker::run_pool_child(registry, 3, 4);
}

} // namespace celeriac::cli
