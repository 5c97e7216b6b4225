// StoreWriter: a queue of changes shared by the submitting threads and the
// writer thread, and a queue of events (completions, pressure, close) handed
// back to the loop through one uv_async handle.
#include "celeriac/store/store_writer.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch_writer.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::store {
namespace {

using Clock = std::chrono::steady_clock;

struct Item {
  JobChange change;
  WriteCallback done;
  Clock::time_point submitted;
};

void close_async(uv_async_t* async) {
  uv_close(reinterpret_cast<uv_handle_t*>(async),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_async_t*>(handle); });
}

} // namespace

class StoreWriter::Impl {
 public:
  Impl(uv_loop_t* loop, StoreWriterOptions options) : options_(std::move(options)) {
    async_ = new uv_async_t;
    uv_async_init(loop, async_,
                  [](uv_async_t* handle) { static_cast<Impl*>(handle->data)->run_events(); });
    async_->data = this;
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
      close_deadline_ = Clock::now();
      events_.clear();
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    close_async(async_);
  }

  void start() {
    validate_schema_name(options_.schema);
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || closing_) return;
    thread_ = std::thread([this] { run_writer(); });
  }

  void submit(JobChange change, WriteCallback done) {
    bool notify = false;
    {
      std::lock_guard lock(mutex_);
      if (closing_) {
        post_locked([done = std::move(done)] {
          if (done) done(WriteOutcome{false, "closed: the store writer is closing", 0});
        });
        return;
      }
      queue_.push_back(Item{std::move(change), std::move(done), Clock::now()});
      ++stats_.pending;
      notify = queue_.size() == 1 || queue_.size() == options_.max_batch;
      if (!pressure_ && stats_.pending >= options_.max_pending) {
        pressure_ = true;
        post_locked([this] {
          if (on_pressure_) on_pressure_(true);
        });
      }
    }
    if (notify) wake_.notify_one();
  }

  void on_pressure(std::function<void(bool)> pressure) { on_pressure_ = std::move(pressure); }

  void close(std::chrono::milliseconds grace, std::function<void(std::size_t)> done) {
    std::lock_guard lock(mutex_);
    if (closing_ || !thread_.joinable()) {
      closing_ = true;
      post_locked([done = std::move(done)] {
        if (done) done(0);
      });
      return;
    }
    closing_ = true;
    close_deadline_ = Clock::now() + grace;
    on_closed_ = std::move(done);
    wake_.notify_all();
  }

  StoreWriterStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  // --- loop thread ---------------------------------------------------------

  void run_events() {
    std::vector<std::function<void()>> events;
    {
      std::lock_guard lock(mutex_);
      events.swap(events_);
    }
    for (auto& event : events)
      event();
  }

  // Caller holds mutex_.
  void post_locked(std::function<void()> event) {
    events_.push_back(std::move(event));
    uv_async_send(async_);
  }

  // --- writer thread -------------------------------------------------------

  void run_writer() {
    detail::BatchWriter writer(options_.database_url, options_.schema);
    std::vector<Item> batch;
    while (next_batch(batch))
      write_until_done(writer, batch);
    finish();
  }

  // Waits for a batch that is full or whose oldest change waited max_delay.
  // False when closing and nothing is left.
  bool next_batch(std::vector<Item>& batch) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (queue_.empty()) {
        if (closing_) return false;
        wake_.wait(lock);
        continue;
      }
      const auto due = queue_.front().submitted + options_.max_delay;
      if (queue_.size() >= options_.max_batch || closing_ || Clock::now() >= due) break;
      wake_.wait_until(lock, due);
    }
    const std::size_t n = std::min(queue_.size(), options_.max_batch);
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
  }

  void write_until_done(detail::BatchWriter& writer, std::vector<Item>& batch) {
    // Moved, not copied: a worker's first change of a job carries all of it. The items
    // keep their callbacks; the changes stay here until they are written.
    std::vector<JobChange> changes;
    changes.reserve(batch.size());
    for (Item& item : batch)
      changes.push_back(std::move(item.change));
    auto delay = options_.reconnect_min;
    for (;;) {
      if (!writer.connected() && past_close_deadline()) {
        fail_closed(batch);
        return;
      }
      try {
        if (!writer.connected()) connect(writer);
        complete(batch, changes, writer.write(changes));
        return;
      } catch (const detail::ConnectionLost& e) {
        note_lost(e.what(), delay);
      }
      if (!wait_to_retry(delay)) {
        fail_closed(batch);
        return;
      }
      delay = std::min(delay * 2, options_.reconnect_max);
    }
  }

  void connect(detail::BatchWriter& writer) {
    writer.connect();
    std::lock_guard lock(mutex_);
    if (!stats_.last_error.empty()) spdlog::info("store: connected to the database again");
    stats_.connected = true;
  }

  void note_lost(const std::string& reason, std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    if (stats_.connected || stats_.last_error != reason) {
      spdlog::warn("store: database unavailable ({}); {} changes kept, retrying in {} ms", reason,
                   stats_.pending, delay.count());
    }
    if (stats_.connected) ++stats_.reconnects;
    stats_.connected = false;
    stats_.last_error = reason;
  }

  bool past_close_deadline() {
    std::lock_guard lock(mutex_);
    return closing_ && Clock::now() >= close_deadline_;
  }

  // Sleeps DELAY (with jitter) unless the close deadline comes first; false
  // when the deadline has passed.
  bool wait_to_retry(std::chrono::milliseconds delay) {
    std::uniform_int_distribution<long> jitter(delay.count() / 2, delay.count());
    const auto until = Clock::now() + std::chrono::milliseconds(jitter(rng_));
    std::unique_lock lock(mutex_);
    const auto wake_by = closing_ ? std::min(until, close_deadline_) : until;
    wake_.wait_until(lock, wake_by, [&] { return closing_ && Clock::now() >= close_deadline_; });
    return !(closing_ && Clock::now() >= close_deadline_);
  }

  void complete(std::vector<Item>& batch, const std::vector<JobChange>& changes,
                const detail::BatchWriter::Written& written) {
    std::lock_guard lock(mutex_);
    ++stats_.batches;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const std::string& reason = written.reasons[i];
      const bool committed = reason.empty();
      ++(committed ? stats_.committed : stats_.refused);
      if (!committed)
        spdlog::error("store: job {} change refused: {}", changes[i].id.str(), reason);
      const auto count = written.deliveries.find(changes[i].id);
      post_done_locked(
          std::move(batch[i].done),
          WriteOutcome{committed, reason, count == written.deliveries.end() ? 0 : count->second});
    }
    release_locked(batch.size());
  }

  void fail_closed(std::vector<Item>& batch) {
    std::lock_guard lock(mutex_);
    left_unwritten_ += batch.size();
    for (Item& item : batch) {
      post_done_locked(std::move(item.done),
                       WriteOutcome{false, "closed before the change was written", 0});
    }
    release_locked(batch.size());
  }

  void post_done_locked(WriteCallback done, WriteOutcome outcome) {
    if (!done) return;
    post_locked([done = std::move(done), outcome = std::move(outcome)] { done(outcome); });
  }

  void release_locked(std::size_t n) {
    stats_.pending -= n;
    if (pressure_ && stats_.pending <= options_.max_pending / 2) {
      pressure_ = false;
      post_locked([this] {
        if (on_pressure_) on_pressure_(false);
      });
    }
  }

  void finish() {
    std::lock_guard lock(mutex_);
    const std::size_t left = left_unwritten_;
    if (left > 0) spdlog::error("store: closed with {} changes unwritten", left);
    post_locked([this, left] {
      if (thread_.joinable()) thread_.join();
      if (on_closed_) std::exchange(on_closed_, nullptr)(left);
    });
  }

  const StoreWriterOptions options_;
  uv_async_t* async_ = nullptr;                // loop thread; deleted in its close callback
  std::function<void(bool)> on_pressure_;      // loop thread
  std::function<void(std::size_t)> on_closed_; // set under mutex_, run on the loop
  std::thread thread_;
  std::mt19937_64 rng_{std::random_device{}()}; // writer thread

  mutable std::mutex mutex_; // guards everything below
  std::condition_variable wake_;
  std::deque<Item> queue_;
  std::vector<std::function<void()>> events_;
  StoreWriterStats stats_;
  bool pressure_ = false;
  bool closing_ = false;
  Clock::time_point close_deadline_{};
  std::size_t left_unwritten_ = 0;
};

StoreWriter::StoreWriter(uv_loop_t* loop, StoreWriterOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}
StoreWriter::~StoreWriter() = default;
void StoreWriter::start() {
  impl_->start();
}
void StoreWriter::submit(JobChange change, WriteCallback done) {
  impl_->submit(std::move(change), std::move(done));
}
void StoreWriter::on_pressure(std::function<void(bool)> pressure) {
  impl_->on_pressure(std::move(pressure));
}
void StoreWriter::close(std::chrono::milliseconds grace, std::function<void(std::size_t)> done) {
  impl_->close(grace, std::move(done));
}
StoreWriterStats StoreWriter::stats() const {
  return impl_->stats();
}

} // namespace celeriac::store
