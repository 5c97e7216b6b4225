#include "worker_presence.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "celeriac/store/database_url.hpp"

namespace celeriac::worker::detail {

WorkerPresence::WorkerPresence(uv_loop_t* loop, PresenceOptions options)
    : options_(std::move(options)), async_(new uv_async_t) {
  uv_async_init(loop, async_,
                [](uv_async_t* a) { static_cast<WorkerPresence*>(a->data)->deliver(); });
  async_->data = this;
}

WorkerPresence::~WorkerPresence() {
  stop();
  uv_close(reinterpret_cast<uv_handle_t*>(async_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_async_t*>(h); });
}

pqxx::connection& WorkerPresence::connection() {
  if (!conn_)
    conn_ = std::make_unique<pqxx::connection>(store::with_connect_timeout(options_.database_url));
  return *conn_;
}

std::vector<store::RevokedJob> WorkerPresence::new_revokes() {
  // A revoke's revoked_at is its transaction's start, so one that commits
  // late can carry an earlier time than one already seen: look back a while,
  // and hand on only the ids not handed on before.
  constexpr auto kLookBack = std::chrono::seconds(30);
  const Timestamp since = revoked_seen_ == Timestamp{} ? revoked_seen_ : revoked_seen_ - kLookBack;
  std::vector<store::RevokedJob> fresh;
  for (auto& revoke : store::revoked_since(connection(), options_.schema, since)) {
    revoked_seen_ = std::max(revoked_seen_, revoke.revoked_at);
    if (known_.emplace(revoke.id, revoke.revoked_at).second) fresh.push_back(std::move(revoke));
  }
  std::erase_if(known_, [&](const auto& entry) { return entry.second < since - kLookBack; });
  return fresh;
}

bool WorkerPresence::load_revoked() {
  try {
    const auto revoked = new_revokes();
    if (options_.on_revoked && !revoked.empty()) options_.on_revoked(revoked);
    spdlog::info("worker: {} revoked jobs in force", revoked.size());
    return true;
  } catch (const std::exception& e) {
    conn_.reset();
    spdlog::error("worker: cannot read revoked jobs yet: {}", e.what());
    return false;
  }
}

void WorkerPresence::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void WorkerPresence::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WorkerPresence::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    beat();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
  lock.unlock();
  try {
    if (conn_) {
      store::remove_worker(*conn_, options_.schema, options_.identity.hostname,
                           options_.identity.pid);
    }
  } catch (const std::exception& e) {
    spdlog::warn("worker: could not remove its row from workers: {}", e.what());
  }
}

void WorkerPresence::beat() {
  try {
    store::WorkerRecord record = options_.identity;
    if (options_.counts) std::tie(record.processed, record.failed) = options_.counts();
    store::upsert_worker(connection(), options_.schema, record);
    auto revoked = new_revokes();
    if (!last_error_.empty()) spdlog::info("worker: heartbeats reach the database again");
    last_error_.clear();
    if (revoked.empty()) return;
    std::lock_guard lock(mutex_);
    pending_.insert(pending_.end(), revoked.begin(), revoked.end());
    uv_async_send(async_);
  } catch (const std::exception& e) {
    conn_.reset();
    if (last_error_ != e.what()) spdlog::warn("worker: heartbeat not written: {}", e.what());
    last_error_ = e.what();
  }
}

void WorkerPresence::deliver() {
  std::vector<store::RevokedJob> revoked;
  {
    std::lock_guard lock(mutex_);
    revoked.swap(pending_);
  }
  if (options_.on_revoked && !revoked.empty()) options_.on_revoked(revoked);
}

} // namespace celeriac::worker::detail
