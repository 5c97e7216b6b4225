// A StoreWriter on the test's own loop, over a fresh schema, and job changes
// to feed it.
#pragma once

#include <random>
#include <string>
#include <vector>

#include <uv.h>

#include "../broker/loop_runner.hpp"
#include "celeriac/store/store_writer.hpp"
#include "scratch_schema.hpp"

namespace celeriac::test {

inline Job store_test_job(std::mt19937_64& rng, int n) {
  JobId::Bytes bytes;
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  Job job;
  job.id = JobId::v4(bytes);
  job.task = "sprint.workqueue";
  job.queue = "default";
  job.args = {n};
  return job;
}

// RECEIVED then SUCCESS (result {"n": n}) for one job.
inline std::vector<store::JobChange> received_and_done(const Job& job, int n) {
  const Timestamp now = Timestamp{} + std::chrono::seconds(1'700'000'000);
  store::JobChange done = store::job_change(job.id, JobState::Success, now);
  done.result = nlohmann::json{{"n", n}};
  return {store::received_change(job, now, "test-worker:1"), done};
}

struct StoreWriterFixture {
  ScratchSchema schema{"celeriac_test_writer_"};
  uv_loop_t loop{};
  std::unique_ptr<store::StoreWriter> writer;

  explicit StoreWriterFixture(store::StoreWriterOptions options = {}) {
    uv_loop_init(&loop);
    if (options.database_url.empty()) options.database_url = database_url();
    options.schema = schema.name;
    writer = std::make_unique<store::StoreWriter>(&loop, std::move(options));
    writer->start();
  }
  StoreWriterFixture(const StoreWriterFixture&) = delete;
  StoreWriterFixture& operator=(const StoreWriterFixture&) = delete;
  ~StoreWriterFixture() {
    writer.reset();
    CHECK(close_loop(&loop) == 0);
  }

  // Closes the writer with GRACE and runs the loop until it says it closed;
  // returns the number of changes it left unwritten.
  std::size_t close(std::chrono::milliseconds grace) {
    std::optional<std::size_t> left;
    writer->close(grace, [&](std::size_t n) { left = n; });
    REQUIRE(run_until(
        &loop, [&] { return left.has_value(); }, grace + std::chrono::seconds(30)));
    return *left;
  }

  long count(const std::string& where) {
    return schema.scalar<long>("select count(*) from " + schema.table("jobs") + " where " + where);
  }
};

} // namespace celeriac::test
