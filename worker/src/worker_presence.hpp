// WorkerPresence: the worker's own thread for what it keeps in the store
// besides job state. Every interval it refreshes the worker's row in
// `workers` (the heartbeat `celeriac inspect workers` reads) and picks up
// the revokes recorded since its last look, which it hands to the loop. On
// stop it removes the row. A database that is away is logged once and tried
// again on the next beat; the worker keeps running.
//
// Threading: construct, load_revoked(), start(), stop() on the loop thread;
// ON_REVOKED runs there too (through uv_async).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <uv.h>

#include "celeriac/store/worker_presence.hpp"

namespace celeriac::worker::detail {

struct PresenceOptions {
  std::string database_url;
  std::string schema;
  store::WorkerRecord identity; // hostname, pid, queues, concurrency, started_at
  std::chrono::milliseconds interval{2000};
  std::function<std::pair<std::int64_t, std::int64_t>()> counts; // processed, failed; any thread
  std::function<void(const std::vector<store::RevokedJob>&)> on_revoked;
};

class WorkerPresence {
 public:
  WorkerPresence(uv_loop_t* loop, PresenceOptions options);
  ~WorkerPresence(); // stop()
  WorkerPresence(const WorkerPresence&) = delete;
  WorkerPresence& operator=(const WorkerPresence&) = delete;

  // Reads every revoke in force now, on the calling thread (before consuming).
  // Returns false (logged) when the database cannot be reached.
  bool load_revoked();
  void start();
  void stop();

 private:
  void run();
  void beat();
  pqxx::connection& connection();
  std::vector<store::RevokedJob> new_revokes();
  void deliver();

  PresenceOptions options_;
  uv_async_t* async_;
  std::unique_ptr<pqxx::connection> conn_; // the thread's, once started
  Timestamp revoked_seen_{};               // the thread's, once started
  std::map<JobId, Timestamp> known_;       // revokes handed on, within the look-back
  std::string last_error_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<store::RevokedJob> pending_; // under mutex_
};

} // namespace celeriac::worker::detail
