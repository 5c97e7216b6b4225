#include "celeriac/tasks/demo.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <random>
#include <thread>

#include "celeriac/core/error.hpp"

namespace celeriac::tasks {
namespace {

// Argument INDEX, or kwarg NAME, which must be a number; InvalidInput naming it otherwise.
const nlohmann::json& number(const TaskContext& ctx, std::size_t index, const char* name) {
  const nlohmann::json* value = nullptr;
  if (ctx.args().is_array() && ctx.args().size() > index)
    value = &ctx.args()[index];
  else if (ctx.kwargs().is_object() && ctx.kwargs().contains(name))
    value = &ctx.kwargs()[name];
  if (value == nullptr) throw InvalidInput(name, "missing");
  if (!value->is_number()) throw InvalidInput(name, "must be a number, got " + value->dump());
  return *value;
}

double number_arg(const TaskContext& ctx, std::size_t index, const char* name) {
  return number(ctx, index, name).get<double>();
}

std::chrono::steady_clock::time_point deadline_after(double seconds) {
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
             std::chrono::duration<double>(std::max(0.0, seconds)));
}

nlohmann::json add(TaskContext& ctx) {
  const nlohmann::json& a = number(ctx, 0, "a");
  const nlohmann::json& b = number(ctx, 1, "b");
  if (a.is_number_integer() && b.is_number_integer())
    return a.get<std::int64_t>() + b.get<std::int64_t>();
  return a.get<double>() + b.get<double>();
}

nlohmann::json sleep_for(TaskContext& ctx) {
  const auto until = deadline_after(number_arg(ctx, 0, "seconds"));
  while (std::chrono::steady_clock::now() < until) {
    ctx.checkpoint();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(10), until - std::chrono::steady_clock::now()));
  }
  return nullptr;
}

nlohmann::json fail(TaskContext& ctx) {
  const double rate = number_arg(ctx, 0, "rate");
  thread_local std::mt19937_64 rng{std::random_device{}()};
  if (std::uniform_real_distribution<double>(0, 1)(rng) < rate)
    throw TaskFailure(ErrorKind::Network, "demo.fail: simulated transient failure");
  return "ok";
}

nlohmann::json crash(TaskContext&) {
  std::raise(SIGKILL);
  return nullptr;
}

nlohmann::json spin(TaskContext& ctx) {
  const auto until = deadline_after(number_arg(ctx, 0, "seconds"));
  volatile std::uint64_t sink = 0;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 10'000; ++i)
      sink = sink + static_cast<std::uint64_t>(i);
  }
  return nullptr;
}

// One write of "<id>\n" to a file opened with O_APPEND: the kernel appends it
// whole, so concurrent workers' lines never interleave, and counting a job's
// lines counts its runs (scripts/chaos).
nlohmann::json note(TaskContext& ctx) {
  const nlohmann::json* path = nullptr;
  if (ctx.args().is_array() && !ctx.args().empty())
    path = &ctx.args()[0];
  else if (ctx.kwargs().is_object() && ctx.kwargs().contains("path"))
    path = &ctx.kwargs()["path"];
  if (path == nullptr) throw InvalidInput("path", "missing");
  if (!path->is_string()) throw InvalidInput("path", "must be a string, got " + path->dump());
  const std::string line = ctx.job().id.str() + "\n";
  const int fd = ::open(path->get_ref<const std::string&>().c_str(),
                        O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw TaskFailure(ErrorKind::Unclassified, "demo.note: " + std::string(std::strerror(errno)));
  const ssize_t written = ::write(fd, line.data(), line.size());
  const int error = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(line.size()))
    throw TaskFailure(ErrorKind::Unclassified,
                      "demo.note: short write: " + std::string(std::strerror(error)));
  return nullptr;
}

} // namespace

void register_demo_tasks(TaskRegistry& registry) {
  registry.add("demo.add", add);
  registry.add("demo.sleep", sleep_for);
  registry.add("demo.fail", fail);
  registry.add("demo.crash", crash);
  registry.add("demo.spin", spin);
  registry.add("demo.note", note);
}

} // namespace celeriac::tasks
