// ProcessPool: children spawned with uv_spawn, one job each at a time. A
// child's end is handled once both its exit and the end of its outcome pipe
// were seen, so an outcome written just before the child died is not lost.
#include "celeriac/worker/process_pool.hpp"

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "celeriac/core/error.hpp"
#include "deferred_calls.hpp"
#include "loop_timers.hpp"
#include "pool_frames.hpp"

namespace celeriac::worker {
namespace {

using detail::close_timer;
using detail::start_timer;

struct Child;

// What the pool keeps of a job: its frame, written once it is handed in (a
// copy of the whole Job cost more than the frame), and what the loop needs.
struct Work {
  JobId id;
  std::string task;
  std::optional<Duration> soft_time_limit, hard_time_limit;
  std::string frame; // moved into the write once a child takes it
  const TaskDefinition* definition = nullptr;
  std::function<void(TaskOutcome)> done;
  Child* child = nullptr;
  uv_timer_t* soft = nullptr;
  uv_timer_t* hard = nullptr;
  uv_timer_t* kill = nullptr;
  bool hard_limited = false;
  bool terminated = false;
};

struct Child {
  uv_process_t process{};
  uv_pipe_t jobs{};     // we write job frames
  uv_pipe_t outcomes{}; // we read outcome frames
  int open_handles = 0;
  void* pool = nullptr; // the Impl, until it closes
  detail::FrameReader reader;
  std::shared_ptr<Work> current;
  std::uint64_t jobs_done = 0;
  bool exited = false, eof = false, retiring = false, finalized = false;
  std::string how_it_ended;
};

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

void on_child_handle_closed(uv_handle_t* handle) {
  auto* child = static_cast<Child*>(handle->data);
  if (--child->open_handles == 0) delete child;
}

std::uint64_t rss_bytes(int pid) {
  std::ifstream statm(fmt::format("/proc/{}/statm", pid));
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

} // namespace

class ProcessPool::Impl {
 public:
  Impl(uv_loop_t* loop, ProcessPoolOptions options) : loop_(loop), options_(std::move(options)) {
    if (options_.size == 0) options_.size = 1;
  }

  void start() {
    for (std::size_t i = 0; i < options_.size; ++i)
      spawn();
  }

  void run(const Job& job, const TaskDefinition& definition,
           std::function<void(TaskOutcome)> done) {
    auto work = std::make_shared<Work>();
    work->id = job.id;
    work->task = job.task;
    work->soft_time_limit = job.soft_time_limit;
    work->hard_time_limit = job.hard_time_limit;
    work->frame = detail::job_frame(job);
    work->definition = &definition;
    work->done = std::move(done);
    if (const std::size_t payload = work->frame.size() - 4; payload > detail::kMaxFrameBytes) {
      // No child could read it: the job fails for good, on the loop's next turn
      // as a child's outcome would, instead of its child being taken for broken.
      deferred_.after(Duration{0}, [this, work, payload] {
        complete(*work, Failed{"JobTooLarge", ErrorKind::Validation,
                               fmt::format("the job is {} bytes as a pool frame, over the process "
                                           "pool's limit of {}",
                                           payload, detail::kMaxFrameBytes),
                               std::nullopt, std::nullopt});
      });
      return;
    }
    queue_.push_back(std::move(work));
    dispatch();
  }

  bool terminate(const JobId& id) {
    for (Child* child : children_) {
      if (child->current && child->current->id == id) {
        child->current->terminated = true;
        uv_process_kill(&child->process, SIGKILL);
        return true;
      }
    }
    return false;
  }

  std::size_t busy() const {
    return static_cast<std::size_t>(std::count_if(children_.begin(), children_.end(),
                                                  [](Child* c) { return c->current != nullptr; }));
  }
  std::size_t size() const { return options_.size; }
  std::uint64_t started() const { return started_; }

  void close() {
    if (closed_) return;
    closed_ = true;
    queue_.clear();
    deferred_.cancel_all();
    for (Child* child : children_) {
      child->pool = nullptr;
      if (child->current) drop_timers(*child->current);
      child->current.reset();
      if (!child->exited) uv_process_kill(&child->process, SIGKILL);
      close_child(child);
    }
    children_.clear();
  }

 private:
  static Impl* of(Child* child) { return static_cast<Impl*>(child->pool); }

  // --- children --------------------------------------------------------------

  void spawn() {
    auto* child = new Child;
    child->pool = this;
    uv_pipe_init(loop_, &child->jobs, 0);
    uv_pipe_init(loop_, &child->outcomes, 0);
    child->process.data = child->jobs.data = child->outcomes.data = child;
    std::vector<std::string> argv_text = {options_.executable};
    argv_text.insert(argv_text.end(), options_.arguments.begin(), options_.arguments.end());
    std::vector<char*> argv;
    for (auto& a : argv_text)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    uv_stdio_container_t stdio[5];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[3].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[3].data.stream = reinterpret_cast<uv_stream_t*>(&child->jobs);
    stdio[4].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[4].data.stream = reinterpret_cast<uv_stream_t*>(&child->outcomes);
    uv_process_options_t opts{};
    opts.file = argv[0];
    opts.args = argv.data();
    opts.stdio = stdio;
    opts.stdio_count = 5;
    opts.exit_cb = [](uv_process_t* p, std::int64_t status, int signal) {
      auto* c = static_cast<Child*>(p->data);
      c->exited = true;
      c->how_it_ended = signal != 0
                            ? fmt::format("killed by signal {} ({})", signal, strsignal(signal))
                            : fmt::format("exited with status {}", status);
      if (Impl* self = of(c)) self->maybe_finalize(c);
    };
    const int rc = uv_spawn(loop_, &child->process, &opts);
    child->open_handles = 3; // the process handle needs closing even when uv_spawn failed
    if (rc != 0) {
      child->pool = nullptr;
      close_child(child);
      throw InfrastructureError(
          fmt::format("cannot start pool child {}: {}", options_.executable, uv_strerror(rc)));
    }
    ++started_;
    children_.push_back(child);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&child->outcomes),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
          static char chunk[64 * 1024];
          *buf = uv_buf_init(chunk, sizeof chunk);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* c = static_cast<Child*>(s->data);
          if (Impl* self = of(c)) self->on_read(c, n, buf);
        });
    dispatch();
  }

  void on_read(Child* child, ssize_t n, const uv_buf_t* buf) {
    if (n < 0) {
      child->eof = true;
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&child->outcomes));
      return maybe_finalize(child);
    }
    child->reader.append(std::string_view(buf->base, static_cast<std::size_t>(n)));
    try {
      while (auto frame = child->reader.next())
        on_outcome(child, detail::outcome_from_frame(*frame));
    } catch (const std::exception& e) {
      spdlog::error("worker: pool child {} sent a broken frame ({}); replacing it",
                    child->process.pid, e.what());
      uv_process_kill(&child->process, SIGKILL);
    }
  }

  void on_outcome(Child* child, TaskOutcome outcome) {
    std::shared_ptr<Work> work = std::move(child->current);
    if (!work) return;
    ++child->jobs_done;
    complete(*work, std::move(outcome));
    const bool too_many =
        options_.max_tasks_per_child > 0 && child->jobs_done >= options_.max_tasks_per_child;
    const bool too_big = options_.max_memory_per_child > 0 &&
                         rss_bytes(child->process.pid) > options_.max_memory_per_child;
    if (too_many || too_big) retire(child);
    dispatch();
  }

  // Closes the child's job pipe: it exits when it reads the end of its input.
  void retire(Child* child) {
    child->retiring = true;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&child->jobs)))
      uv_close(reinterpret_cast<uv_handle_t*>(&child->jobs), on_child_handle_closed);
  }

  // Once exited and drained: fail its job if it had one, replace it.
  void maybe_finalize(Child* child) {
    if (!child->exited || !child->eof || child->finalized) return;
    child->finalized = true;
    if (std::shared_ptr<Work> work = std::move(child->current)) {
      if (work->hard_limited) {
        complete(*work, Failed{"TimeLimitExceeded", ErrorKind::Timeout, "hard time limit exceeded",
                               std::nullopt, std::nullopt});
      } else {
        const std::string why = "pool child " + child->how_it_ended;
        spdlog::error("worker: job {} ({}) lost: {}", work->id.str(), work->task, why);
        complete(*work, Failed{work->terminated ? "Terminated" : "WorkerLost",
                               ErrorKind::WorkerLost, why, std::nullopt, std::nullopt});
      }
    } else if (!child->retiring) {
      spdlog::warn("worker: idle pool child {} {}", child->process.pid, child->how_it_ended);
    }
    children_.remove(child);
    close_child(child);
    if (closed_) return;
    try {
      spawn();
    } catch (const std::exception& e) {
      spdlog::error("worker: {}; the pool runs with {} children", e.what(), children_.size());
    }
  }

  void close_child(Child* child) {
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&child->process),
                           reinterpret_cast<uv_handle_t*>(&child->jobs),
                           reinterpret_cast<uv_handle_t*>(&child->outcomes)}) {
      if (!uv_is_closing(h)) uv_close(h, on_child_handle_closed);
    }
  }

  // --- jobs ------------------------------------------------------------------

  void dispatch() {
    for (Child* child : children_) {
      if (queue_.empty()) return;
      if (child->current || child->retiring || child->exited) continue;
      std::shared_ptr<Work> work = std::move(queue_.front());
      queue_.pop_front();
      send(child, std::move(work));
    }
  }

  void send(Child* child, std::shared_ptr<Work> work) {
    auto* request = new WriteRequest;
    request->data = std::move(work->frame);
    uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
    uv_write(&request->req, reinterpret_cast<uv_stream_t*>(&child->jobs), &buf, 1,
             [](uv_write_t* req, int) { delete reinterpret_cast<WriteRequest*>(req); });
    work->child = child;
    start_limits(*work);
    child->current = std::move(work);
  }

  void start_limits(Work& work) {
    const TaskDefaults& defaults = work.definition->defaults;
    const auto soft = work.soft_time_limit ? work.soft_time_limit : defaults.soft_time_limit;
    const auto hard = work.hard_time_limit ? work.hard_time_limit : defaults.hard_time_limit;
    if (soft) {
      work.soft = start_timer(loop_, &work, *soft, [](uv_timer_t* t) {
        auto* w = static_cast<Work*>(t->data);
        uv_process_kill(&w->child->process, SIGUSR1);
      });
    }
    if (hard) {
      work.hard = start_timer(loop_, &work, *hard, [](uv_timer_t* t) {
        auto* w = static_cast<Work*>(t->data);
        w->hard_limited = true;
        uv_process_kill(&w->child->process, SIGTERM);
        Impl* self = of(w->child);
        w->kill = start_timer(self->loop_, w, self->options_.kill_grace, [](uv_timer_t* k) {
          auto* ww = static_cast<Work*>(k->data);
          if (!ww->child->exited) uv_process_kill(&ww->child->process, SIGKILL);
        });
      });
    }
  }

  void drop_timers(Work& work) {
    close_timer(work.soft);
    close_timer(work.hard);
    close_timer(work.kill);
  }

  void complete(Work& work, TaskOutcome outcome) {
    drop_timers(work);
    if (auto done = std::move(work.done)) done(std::move(outcome));
  }

  uv_loop_t* loop_;
  ProcessPoolOptions options_;
  detail::DeferredCalls deferred_{loop_};
  std::list<Child*> children_;
  std::deque<std::shared_ptr<Work>> queue_;
  std::uint64_t started_ = 0;
  bool closed_ = false;
};

ProcessPool::ProcessPool(uv_loop_t* loop, ProcessPoolOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}
ProcessPool::~ProcessPool() {
  impl_->close();
}
void ProcessPool::start() {
  impl_->start();
}
void ProcessPool::run(const Job& job, const TaskDefinition& definition,
                      std::function<void(TaskOutcome)> done) {
  impl_->run(job, definition, std::move(done));
}
bool ProcessPool::terminate(const JobId& id) {
  return impl_->terminate(id);
}
std::size_t ProcessPool::size() const {
  return impl_->size();
}
std::size_t ProcessPool::busy() const {
  return impl_->busy();
}
std::uint64_t ProcessPool::children_started() const {
  return impl_->started();
}
void ProcessPool::close() {
  impl_->close();
}

} // namespace celeriac::worker
