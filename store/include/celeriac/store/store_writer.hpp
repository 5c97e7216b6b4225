// StoreWriter: the thread that owns a PostgreSQL connection and commits job
// state changes in batches (DESIGN.md "Worker runtime", docs/store.md
// "Writing job state").
//
// A batch is flushed when it holds max_batch changes or when its oldest change
// has waited max_delay, whichever comes first (by default max_delay is 0: a
// group commit, where whatever arrived while the last commit ran forms the
// next batch, so an idle writer adds no delay), and is written with
// apply_changes() as one statement in autocommit: one round trip, its commit
// included.
//
// Threading: construct, start(), close() and the destructor on the thread
// that runs LOOP; submit() from any thread. Every callback (write completions,
// pressure changes, close's) runs on LOOP's thread through a uv_async handle,
// never inside submit().
//
// Delivery: each submitted change's callback runs exactly once:
// - committed = true after the transaction holding it committed;
// - committed = false with the database's reason when PostgreSQL refused the
//   change itself (a data or constraint error). Such a change is isolated by
//   splitting its batch, so it never holds back the others;
// - committed = false with "closed" when close()'s grace ran out first.
// A lost connection fails nothing: the writer reconnects with capped
// exponential backoff and writes the kept changes again (re-applying a batch
// whose commit was in doubt is harmless, apply_changes being monotonic).
// Pending changes are bounded only by memory; when they reach max_pending the
// pressure callback says so, and producers should stop taking work until it
// says the backlog fell to half.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <uv.h>

#include "celeriac/store/job_changes.hpp"

namespace celeriac::store {

struct StoreWriterOptions {
  std::string database_url;
  std::string schema = "celeriac";
  std::size_t max_batch = 1000;
  std::chrono::milliseconds max_delay{0};
  std::size_t max_pending = 50'000;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5'000};
};

struct WriteOutcome {
  bool committed = false;
  std::string error;  // why not, when not committed
  int deliveries = 0; // the job's deliveries count once committed (for a RECEIVED change; else 0)
};
using WriteCallback = std::function<void(const WriteOutcome&)>;

struct StoreWriterStats {
  std::uint64_t committed = 0; // changes committed
  std::uint64_t refused = 0;   // changes the database refused
  std::uint64_t batches = 0;   // transactions committed
  std::uint64_t reconnects = 0;
  std::size_t pending = 0; // submitted, not yet completed
  bool connected = false;
  std::string last_error; // the latest connection or database error, if any
};

class StoreWriter {
 public:
  StoreWriter(uv_loop_t* loop, StoreWriterOptions options);
  ~StoreWriter(); // closes with no grace if close() was not called; runs no callbacks
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Starts the writer thread, which connects (and keeps reconnecting) by itself.
  // Throws InvalidInput for a bad schema name.
  void start();

  void submit(JobChange change, WriteCallback done = {});

  // PRESSURE(true) when the backlog reached max_pending, PRESSURE(false) when
  // it fell back to half of it.
  void on_pressure(std::function<void(bool)> pressure);

  // Writes what is pending, for at most GRACE, then stops the thread. DONE
  // gets the number of changes left unwritten (already failed with "closed").
  // Safe to call twice (the second call's DONE runs with 0) or before start().
  void close(std::chrono::milliseconds grace, std::function<void(std::size_t)> done = {});

  StoreWriterStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace celeriac::store
