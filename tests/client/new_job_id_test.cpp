// new_job_id(): version-4 ids, never repeated across the pool's refills, on
// several threads at once, or in a forked child.
#include "celeriac/new_job_id.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

using celeriac::JobId;
using celeriac::new_job_id;

TEST_CASE("ids are version 4 and distinct, past many refills of the pool") {
  std::set<JobId> seen;
  for (int i = 0; i < 20000; ++i) { // 256 ids per refill
    const JobId id = new_job_id();
    const std::string text = id.str();
    CHECK(text[14] == '4');                          // version
    CHECK(std::strchr("89ab", text[19]) != nullptr); // RFC 4122 variant
    CHECK(seen.insert(id).second);
  }
}

TEST_CASE("threads draw from pools of their own and never meet") {
  std::vector<std::vector<JobId>> drawn(4);
  std::vector<std::thread> threads;
  for (auto& ids : drawn) {
    threads.emplace_back([&ids] {
      for (int i = 0; i < 5000; ++i)
        ids.push_back(new_job_id());
    });
  }
  for (auto& t : threads)
    t.join();
  std::set<JobId> all;
  for (const auto& ids : drawn)
    all.insert(ids.begin(), ids.end());
  CHECK(all.size() == 4 * 5000);
}

TEST_CASE("a forked child does not repeat the ids its parent is about to hand out") {
  (void)new_job_id(); // the pool is filled: the child inherits its bytes
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const JobId id = new_job_id();
    const bool written = ::write(fds[1], id.bytes().data(), id.bytes().size()) ==
                         static_cast<ssize_t>(id.bytes().size());
    ::_exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  JobId::Bytes from_child{};
  REQUIRE(::read(fds[0], from_child.data(), from_child.size()) ==
          static_cast<ssize_t>(from_child.size()));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const JobId parent_next = new_job_id();
  CHECK(JobId(from_child) != parent_next);
}
