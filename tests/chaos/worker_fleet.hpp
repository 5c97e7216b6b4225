// WorkerFleet: N `celeriac worker` processes, kept running like a supervisor
// would (systemd's Restart=always): one that exits is started again, at once
// when the killer took it, after a second otherwise. The killer, when armed,
// SIGKILLs a random worker every kill_min..kill_max.
//
// Threading: one thread of its own reaps, restarts and kills; every public
// method may be called from any other thread. stop() is safe twice.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chaos_options.hpp"

namespace celeriac::chaos {

struct FleetSpec {
  std::string celeriac; // the binary
  std::string config;   // its --config
  std::string schema;   // CELERIAC_DATABASE_SCHEMA for it
  std::string queues;   // -Q
  int workers = 2;
  int concurrency = 2;
  std::string log_dir; // worker<n>.log, appended across restarts
};

struct FleetReport {
  int kills = 0;                       // SIGKILLs sent by the killer
  int starts = 0;                      // processes started, restarts included
  int unexpected_exits = 0;            // exits the killer did not cause
  int crashes = 0;                     // of those, deaths by a signal (SIGSEGV, SIGABRT, ...)
  std::vector<std::string> exit_notes; // one line per unexpected exit (identical ones repeat)
  int alive = 0;                       // answering /healthz 200 at the end
  int stopped_warm = 0;                // exited 0 after SIGTERM
};

class WorkerFleet {
 public:
  WorkerFleet(FleetSpec spec, unsigned seed);
  ~WorkerFleet();
  WorkerFleet(const WorkerFleet&) = delete;
  WorkerFleet& operator=(const WorkerFleet&) = delete;

  void start();
  // Arms (or disarms) the killer; the first kill comes one pause after arming.
  void arm_killer(Seconds min, Seconds max);
  void disarm_killer();
  // Waits until every worker answers /healthz with 200, up to TIMEOUT; how many do.
  int wait_healthy(Seconds timeout);
  // SIGTERM to each (a warm shutdown), SIGKILL after TIMEOUT; fills stopped_warm.
  void stop(Seconds timeout);
  FleetReport report() const;

 private:
  struct Slot {
    pid_t pid = -1;
    int port = 0;
    bool killed = false; // the killer sent this process SIGKILL
    std::chrono::steady_clock::time_point restart_at{};
  };
  void supervise();
  void reap_and_restart(std::chrono::steady_clock::time_point now);
  void kill_one();
  void shut_down_all();
  pid_t spawn(int index, int port);
  bool healthy(int port) const;

  FleetSpec spec_;
  mutable std::mutex mutex_; // guards everything below
  std::condition_variable wake_;
  std::vector<Slot> slots_;
  FleetReport report_;
  std::mt19937 rng_;
  bool armed_ = false;
  Seconds kill_min_{2};
  Seconds kill_max_{5};
  std::chrono::steady_clock::time_point next_kill_{};
  bool stopping_ = false;
  Seconds stop_timeout_{30};
  std::thread thread_;
};

} // namespace celeriac::chaos
