// The pool child's side of the process pool: blocking reads of job frames,
// one job at a time, outcome frames back. SIGUSR1 cancels the job running;
// SIGTERM (the hard limit) also kills the external command it runs.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>

#include <spdlog/spdlog.h>

#include "batch_scheduling.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "command_process.hpp"
#include "pool_frames.hpp"

namespace celeriac::worker {
namespace {

std::atomic<TaskContext*> g_running{nullptr};

// Async-signal-safe: a lock-free atomic load and store.
void cancel_running(int) {
  if (TaskContext* context = g_running.load()) context->cancel();
}

// The hard limit's SIGTERM: an external command (command_process.hpp) dies
// with this child, then the child dies of the signal as it would have.
void terminate_with_commands(int signal) {
  detail::kill_running_commands();
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

bool write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return true;
}

TaskOutcome run_one(const TaskRegistry& registry, const Job& job) {
  const TaskDefinition* definition = registry.find(job.task);
  if (definition == nullptr) {
    return Failed{"UnknownTask", ErrorKind::UnknownTask,
                  "unknown task '" + job.task + "' in the pool child", std::nullopt, std::nullopt};
  }
  TaskContext context(job);
  g_running.store(&context);
  TaskOutcome outcome = run_task(*definition, context);
  g_running.store(nullptr);
  return outcome;
}

} // namespace

int run_pool_child(const TaskRegistry& registry, int in_fd, int out_fd) {
  struct sigaction action {};
  action.sa_handler = cancel_running;
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
  std::signal(SIGTERM, terminate_with_commands);
  std::signal(SIGINT, SIG_IGN); // the worker decides when its children stop
  std::signal(SIGPIPE, SIG_IGN);
  detail::run_as_batch(); // batch_scheduling.hpp: a job written to it does not preempt the loop
  detail::FrameReader reader;
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(in_fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    reader.append(std::string_view(chunk, static_cast<std::size_t>(n)));
    try {
      while (auto frame = reader.next()) {
        const Job job = detail::job_from_frame(*frame);
        if (!write_all(out_fd, detail::outcome_frame(run_one(registry, job)))) return 1;
      }
    } catch (const std::exception& e) {
      spdlog::error("pool child: {}", e.what());
      return 2;
    }
  }
}

} // namespace celeriac::worker
