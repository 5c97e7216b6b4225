#include <doctest/doctest.h>

#include <unordered_set>

#include "celeriac/core/job_id.hpp"
#include "celeriac/core/job_state.hpp"

using celeriac::JobId;
using celeriac::JobState;

TEST_CASE("JobId parses and formats the canonical form") {
  auto id = JobId::parse("7C3E6C2A-3D5F-4B8E-9A61-2F0D4C8B1E55");
  REQUIRE(id.has_value());
  CHECK(id->str() == "7c3e6c2a-3d5f-4b8e-9a61-2f0d4c8b1e55");
  CHECK(id->version() == 4);
  CHECK(JobId::parse(id->str()) == id);
  for (const char* bad :
       {"", "7c3e6c2a3d5f4b8e9a612f0d4c8b1e55", "7c3e6c2a-3d5f-4b8e-9a61-2f0d4c8b1e5",
        "7c3e6c2a-3d5f-4b8e-9a61-2f0d4c8b1e555", "7c3e6c2a_3d5f-4b8e-9a61-2f0d4c8b1e55",
        "zc3e6c2a-3d5f-4b8e-9a61-2f0d4c8b1e55", "{7c3e6c2a-3d5f-4b8e-9a61-2f0d4c8b1e}"}) {
    INFO(bad);
    CHECK_FALSE(JobId::parse(bad).has_value());
  }
}

TEST_CASE("JobId::v4 sets the version and variant bits") {
  JobId::Bytes all_ones;
  all_ones.fill(0xFF);
  const JobId id = JobId::v4(all_ones);
  CHECK(id.version() == 4);
  CHECK((id.bytes()[8] & 0xC0) == 0x80);
  CHECK(id.str() == "ffffffff-ffff-4fff-bfff-ffffffffffff");
  CHECK(JobId().is_nil());
  CHECK_FALSE(id.is_nil());
  std::unordered_set<JobId> set{id, JobId(), id};
  CHECK(set.size() == 2);
}

TEST_CASE("job states: names and the legal transitions of DESIGN.md") {
  using enum JobState;
  for (JobState s : celeriac::kAllJobStates) {
    CHECK(celeriac::parse_job_state(celeriac::to_string(s)) == s);
  }
  CHECK_FALSE(celeriac::parse_job_state("SUCCEEDED").has_value());

  CHECK(celeriac::is_legal_transition(Pending, Received));
  CHECK(celeriac::is_legal_transition(Received, Started));
  CHECK(celeriac::is_legal_transition(Started, Success));
  CHECK(celeriac::is_legal_transition(Started, Retry));
  CHECK(celeriac::is_legal_transition(Retry, Received));
  CHECK(celeriac::is_legal_transition(Pending, Started)); // received and started in one change
  CHECK(celeriac::is_legal_transition(Retry, Started));
  CHECK(celeriac::is_legal_transition(Started, Received)); // redelivered after a worker died
  CHECK(celeriac::is_legal_transition(Received, Revoked));
  CHECK_FALSE(celeriac::is_legal_transition(Pending, Success));
  CHECK_FALSE(celeriac::is_legal_transition(Received, Retry));

  for (JobState terminal : {Success, Failure, Revoked}) {
    CHECK(celeriac::is_terminal(terminal));
    for (JobState to : celeriac::kAllJobStates) {
      CHECK_FALSE(celeriac::is_legal_transition(terminal, to));
    }
  }
  for (JobState s : {Pending, Received, Started, Retry})
    CHECK_FALSE(celeriac::is_terminal(s));
}
