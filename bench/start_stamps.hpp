// StartStamps: one CLOCK_MONOTONIC time per job, in a file mapped shared by
// worker_bench, its worker process and that worker's pool children. The
// bench's no-op task writes the moment it starts; the bench reads them to
// find when the first job started and, for each paced job, the time from its
// publish to its start. CLOCK_MONOTONIC is one clock for every process on the
// machine, and std::chrono::steady_clock is it (libstdc++ on Linux).
//
// Threading: any thread of any process that maps the file; each slot is an
// atomic written by whichever attempt of its job ran last.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace celeriac::bench {

class StartStamps {
 public:
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

  // Maps PATH, creating it with SLOTS zeroed slots when CREATE, else mapping
  // whatever size it has. Throws std::runtime_error naming PATH.
  StartStamps(const std::string& path, std::size_t slots, bool create) {
    const int fd = ::open(path.c_str(), create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    if (create && ::ftruncate(fd, static_cast<off_t>(slots * sizeof(std::uint64_t))) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot size " + path);
    }
    slots_ = static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)) / sizeof(std::uint64_t);
    void* at =
        ::mmap(nullptr, slots_ * sizeof(std::uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (at == MAP_FAILED) throw std::runtime_error("cannot map " + path);
    slot_ = static_cast<std::atomic<std::uint64_t>*>(at);
  }
  ~StartStamps() { ::munmap(slot_, slots_ * sizeof(std::uint64_t)); }
  StartStamps(const StartStamps&) = delete;
  StartStamps& operator=(const StartStamps&) = delete;

  static std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  // Job INDEX starts now; an index past the end is ignored.
  void note(std::size_t index) {
    if (index < slots_) slot_[index].store(now_ns(), std::memory_order_relaxed);
  }
  // When job INDEX started (ns on the monotonic clock), 0 if it has not.
  std::uint64_t at(std::size_t index) const { return slot_[index].load(std::memory_order_relaxed); }
  std::size_t size() const { return slots_; }

 private:
  std::atomic<std::uint64_t>* slot_ = nullptr;
  std::size_t slots_ = 0;
};

} // namespace celeriac::bench
