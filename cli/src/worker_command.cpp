// `celeriac worker`: the worker daemon, and `celeriac __pool-child`, the mode
// the process pool starts this same binary in (docs/worker.md).
#include <unistd.h>

#include <array>
#include <climits>
#include <cstdlib>
#include <span>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "celeriac/core/error.hpp"
#include "celeriac/tasks/demo.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/task_config.hpp"
#include "celeriac/worker/worker.hpp"
#include "celeriac/worker/worker_config.hpp"
#include "commands.hpp"
#include "log_format.hpp"

namespace celeriac::cli {
namespace {

// The tasks this binary knows, with the config's [tasks] laid over them and
// its external commands added. An application that builds its own worker
// binary registers its own here (docs/worker.md).
TaskRegistry configured_tasks(const Config& config) {
  TaskRegistry registry;
  tasks::register_demo_tasks(registry);
  worker::apply_task_config(config, registry);
  return registry;
}

// A pool child must run the tasks exactly as the worker registered them, even
// when the file changes while the worker runs: it gets the text the worker
// read, not the path, and the effective broker.max_body_bytes (the only value
// outside [tasks] that tasks use; the environment and --set may change it).
constexpr std::string_view kChildConfigName = "--config-name";
constexpr std::string_view kChildConfigText = "--config-text";
constexpr std::string_view kChildMaxBody = "--max-body-bytes";
// An argument longer than this (Linux's MAX_ARG_STRLEN) makes execve fail.
constexpr std::size_t kMaxArgument = 128 * 1024 - 1;

std::vector<std::string> pool_child_arguments(const ConfigFile& file, const Config& config) {
  std::vector<std::string> args = {"__pool-child", std::string(kChildConfigName), file.path,
                                   std::string(kChildMaxBody),
                                   std::to_string(config.broker.max_body_bytes)};
  if (file.text) {
    if (file.text->size() > kMaxArgument) {
      throw InvalidInput("config", fmt::format("'{}' is larger than {} bytes, too large to hand "
                                               "to the process pool's children",
                                               file.path, kMaxArgument));
    }
    args.insert(args.end(), {std::string(kChildConfigText), *file.text});
  }
  return args;
}

// The config a pool child rebuilds from pool_child_arguments (after "__pool-child").
Config pool_child_config(std::span<const std::string> args) {
  std::map<std::string, std::string, std::less<>> values;
  for (std::size_t i = 0; i + 1 < args.size(); i += 2)
    values[args[i]] = args[i + 1];
  if (args.size() % 2 != 0 || values.size() * 2 != args.size()) {
    throw InvalidInput("__pool-child",
                       "expects pairs of --config-name, --config-text and "
                       "--max-body-bytes with their values");
  }
  const auto value = [&](std::string_view key) {
    const auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  };
  const auto text = values.find(kChildConfigText);
  Config config =
      text == values.end() ? Config{} : parse_config(text->second, value(kChildConfigName));
  if (const std::string max_body = value(kChildMaxBody); !max_body.empty()) {
    apply_override(config, "broker.max_body_bytes", max_body);
  }
  return config;
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
  const ConfigFile file = find_config_file(*parsed, invocation);
  Config config = load_config(file, *parsed, invocation);
  for (const auto& [flag, key] : kFlagKeys) {
    if (const auto value = string_option(*parsed, flag)) apply_override(config, key, *value);
  }
  if (flag_option(*parsed, "events")) apply_override(config, "worker.events", "true");
  worker::WorkerOptions worker_options = worker::worker_options(config);
  worker_options.child_executable = own_executable();
  worker_options.child_arguments = pool_child_arguments(file, config);
  spdlog::set_level(spdlog::level::info);
  use_log_format(config.worker.log_format);
  // The pool children log to the same stream, in the same format.
  if (config.worker.log_format == LogFormat::Json) ::setenv("CELERIAC_LOG_FORMAT", "json", 1);
  const TaskRegistry registry = configured_tasks(config);
  worker::Worker worker(std::move(worker_options), registry);
  const int status = worker.run();
  if (status == worker::Worker::kExitStuck) return status; // the supervisor restarts it
  return status == 0 ? kExitOk : kExitFailure;
}

int run_pool_child_mode(std::span<const std::string> args) {
  if (const char* format = std::getenv("CELERIAC_LOG_FORMAT");
      format && format == std::string_view("json"))
    use_log_format(LogFormat::Json);
  const TaskRegistry registry = configured_tasks(pool_child_config(args));
  return worker::run_pool_child(registry, 3, 4);
}

} // namespace celeriac::cli
