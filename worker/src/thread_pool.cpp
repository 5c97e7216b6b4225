// ThreadPool: a queue of work shared with the threads, and two lists they
// fill for the loop (started, finished), drained by one uv_async callback.
// The state lives in a shared Impl because an abandoned thread may outlive
// the pool.
#include "celeriac/worker/thread_pool.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch_scheduling.hpp"
#include "loop_timers.hpp"

namespace celeriac::worker {
namespace {

using detail::close_timer;
using detail::start_timer;

struct Work {
  explicit Work(Job j) : job(std::move(j)), context(job) {}
  Job job;
  TaskContext context; // refers to job: a Work never moves (always a shared_ptr)
  const TaskDefinition* definition = nullptr;
  std::function<void(TaskOutcome)> done;
  int runner = -1;                     // the thread running it; under the mutex
  bool abandoned = false;              // hard limit passed; under the mutex
  bool started = false;                // a thread took it; loop thread
  bool finished = false;               // its DONE ran; loop thread
  std::function<void()> on_hard_limit; // loop thread
  uv_timer_t* soft = nullptr;
  uv_timer_t* hard = nullptr;
};

} // namespace

class ThreadPool::Impl : public std::enable_shared_from_this<ThreadPool::Impl> {
 public:
  Impl(uv_loop_t* loop, std::size_t threads, ThreadPool& pool)
      : loop_(loop), pool_(&pool), size_(std::max<std::size_t>(threads, 1)) {
    async_ = new uv_async_t;
    uv_async_init(loop, async_, [](uv_async_t* a) { static_cast<Impl*>(a->data)->drain(); });
    async_->data = this;
  }

  void start_threads() {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < size_; ++i)
      spawn_locked();
  }

  void run(const Job& job, const TaskDefinition& definition,
           std::function<void(TaskOutcome)> done) {
    auto work = std::make_shared<Work>(job);
    work->definition = &definition;
    work->done = std::move(done);
    running_.emplace(work->job.id, work);
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(work);
    }
    wake_.notify_one();
  }

  bool cancel(const JobId& id) {
    const auto it = running_.find(id);
    if (it == running_.end()) return false;
    it->second->context.cancel();
    return true;
  }

  std::size_t busy() const { return busy_; }
  std::size_t size() const { return size_; }
  std::size_t stuck() const {
    std::lock_guard lock(mutex_);
    return stuck_;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return;
      closed_ = true;
      queue_.clear();
    }
    for (auto& [id, work] : running_)
      work->context.cancel(); // cooperative tasks stop early
    wake_.notify_all();
    for (auto& [number, thread] : threads_)
      thread.join(); // each ends after its current job
    threads_.clear();
    for (auto& [id, work] : running_) {
      close_timer(work->soft);
      close_timer(work->hard);
    }
    running_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(async_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
    pool_ = nullptr;
  }

 private:
  // --- pool threads --------------------------------------------------------

  void spawn_locked() {
    const int number = next_thread_++;
    threads_.emplace(number,
                     std::thread([self = shared_from_this(), number] { self->serve(number); }));
  }

  void serve(int number) {
    detail::run_as_batch(); // batch_scheduling.hpp: waking it does not preempt the loop
    for (;;) {
      std::shared_ptr<Work> work;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (closed_) return;
        work = queue_.front();
        queue_.pop_front();
        work->runner = number;
        started_.push_back(work);
        uv_async_send(async_);
      }
      TaskOutcome outcome = run_task(*work->definition, work->context);
      std::lock_guard lock(mutex_);
      if (work->abandoned) {
        --stuck_;
        spdlog::warn("worker: abandoned job {} ({}) returned at last; its outcome is dropped",
                     work->job.id.str(), work->job.task);
        return; // a replacement took this thread's place
      }
      finished_.emplace_back(std::move(work), std::move(outcome));
      if (!closed_) uv_async_send(async_);
    }
  }

  // --- loop thread ---------------------------------------------------------

  void drain() {
    std::vector<std::shared_ptr<Work>> started;
    std::vector<std::pair<std::shared_ptr<Work>, TaskOutcome>> finished;
    {
      std::lock_guard lock(mutex_);
      started.swap(started_);
      finished.swap(finished_);
    }
    for (auto& work : started)
      start_limits(*work);
    for (auto& [work, outcome] : finished)
      complete(*work, std::move(outcome));
  }

  void start_limits(Work& work) {
    if (work.finished) return;
    work.started = true;
    ++busy_;
    const TaskDefaults& defaults = work.definition->defaults;
    const auto soft =
        work.job.soft_time_limit ? work.job.soft_time_limit : defaults.soft_time_limit;
    const auto hard =
        work.job.hard_time_limit ? work.job.hard_time_limit : defaults.hard_time_limit;
    if (soft) {
      work.soft = start_timer(loop_, &work, *soft,
                              [](uv_timer_t* t) { static_cast<Work*>(t->data)->context.cancel(); });
    }
    if (hard) {
      work.on_hard_limit = [this, &work] { hard_limit(work); };
      work.hard = start_timer(loop_, &work, *hard,
                              [](uv_timer_t* t) { static_cast<Work*>(t->data)->on_hard_limit(); });
    }
  }

  void hard_limit(Work& work) {
    work.context.cancel(); // in case it looks, late as it is
    {
      std::lock_guard lock(mutex_);
      const bool outcome_waiting =
          std::any_of(finished_.begin(), finished_.end(),
                      [&](const auto& f) { return f.first.get() == &work; });
      if (outcome_waiting) return; // it finished just in time: deliver that
      work.abandoned = true;
      ++stuck_;
      if (auto it = threads_.find(work.runner); it != threads_.end()) {
        it->second.detach();
        threads_.erase(it);
      }
      spawn_locked();
    }
    spdlog::error("worker: job {} ({}) passed its hard time limit; its thread is abandoned",
                  work.job.id.str(), work.job.task);
    complete(work, Failed{"TimeLimitExceeded", ErrorKind::Timeout, "hard time limit exceeded",
                          std::nullopt, std::nullopt});
    if (!warned_stuck_ && stuck() * 2 >= size_ && pool_ && pool_->on_too_many_stuck) {
      warned_stuck_ = true;
      pool_->on_too_many_stuck();
    }
  }

  void complete(Work& work, TaskOutcome outcome) {
    if (work.finished) return;
    work.finished = true;
    if (work.started) --busy_;
    close_timer(work.soft);
    close_timer(work.hard);
    auto done = std::move(work.done);
    auto keep = running_.extract(work.job.id); // WORK lives until this scope ends
    if (done) done(std::move(outcome));
  }

  uv_loop_t* loop_;
  ThreadPool* pool_;
  const std::size_t size_;
  uv_async_t* async_ = nullptr;
  std::map<JobId, std::shared_ptr<Work>> running_; // loop thread: handed in, not completed
  std::size_t busy_ = 0;                           // loop thread
  bool warned_stuck_ = false;                      // loop thread

  mutable std::mutex mutex_; // guards everything below
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Work>> queue_;
  std::vector<std::shared_ptr<Work>> started_;
  std::vector<std::pair<std::shared_ptr<Work>, TaskOutcome>> finished_;
  std::map<int, std::thread> threads_;
  int next_thread_ = 0;
  std::size_t stuck_ = 0;
  bool closed_ = false;
};

} // namespace celeriac::worker

namespace celeriac::worker {

ThreadPool::ThreadPool(uv_loop_t* loop, std::size_t threads)
    : impl_(std::make_shared<Impl>(loop, threads, *this)) {
  impl_->start_threads();
}
ThreadPool::~ThreadPool() {
  impl_->close();
}
void ThreadPool::run(const Job& job, const TaskDefinition& definition,
                     std::function<void(TaskOutcome)> done) {
  impl_->run(job, definition, std::move(done));
}
bool ThreadPool::cancel(const JobId& id) {
  return impl_->cancel(id);
}
std::size_t ThreadPool::size() const {
  return impl_->size();
}
std::size_t ThreadPool::busy() const {
  return impl_->busy();
}
std::size_t ThreadPool::stuck() const {
  return impl_->stuck();
}
void ThreadPool::close() {
  impl_->close();
}

} // namespace celeriac::worker
