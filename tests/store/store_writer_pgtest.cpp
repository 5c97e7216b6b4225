// The StoreWriter against the private PostgreSQL: completions after commit,
// batching, a refused change isolated from its batch, close, and pressure
// while the database cannot be reached.
#include "celeriac/store/store_writer.hpp"

#include <doctest/doctest.h>

#include "store_writer_fixture.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {

std::mt19937_64 rng{std::random_device{}()};

} // namespace

TEST_CASE("every change completes once, after its batch committed") {
  test::StoreWriterFixture f;
  constexpr int kJobs = 5'000;
  int committed = 0, failed = 0;
  std::vector<JobId> ids;
  bool visible_at_completion = true;
  for (int i = 0; i < kJobs; ++i) {
    const Job job = test::store_test_job(rng, i);
    ids.push_back(job.id);
    for (auto& change : test::received_and_done(job, i)) {
      f.writer->submit(std::move(change),
                       [&](const store::WriteOutcome& o) { (o.committed ? committed : failed)++; });
    }
  }
  // A completion for one sampled job: its row must already be there.
  store::JobChange probe = store::job_change(ids[17], JobState::Success, Timestamp{});
  f.writer->submit(probe, [&](const store::WriteOutcome& o) {
    REQUIRE(o.committed);
    ++committed;
    visible_at_completion = f.count("id = '" + ids[17].str() + "' and state = 'SUCCESS'") == 1;
  });
  REQUIRE(test::run_until(
      &f.loop, [&] { return committed + failed == 2 * kJobs + 1; }, 60s));
  CHECK(failed == 0);
  CHECK(visible_at_completion);
  CHECK(f.count("state = 'SUCCESS' and result is not null and task is not null") == kJobs);
  const auto stats = f.writer->stats();
  CHECK(stats.committed == 2 * kJobs + 1);
  CHECK(stats.batches < 2 * kJobs / 10); // batched, not one transaction per change
  CHECK(stats.pending == 0);
  CHECK(f.close(1s) == 0);
}

TEST_CASE("a change the database refuses fails alone; its batch-mates commit") {
  store::StoreWriterOptions options;
  options.max_batch = 64;
  options.max_delay = 50ms;
  test::StoreWriterFixture f(options);
  std::vector<std::string> errors;
  int committed = 0;
  for (int i = 0; i < 40; ++i) {
    Job job = test::store_test_job(rng, i);
    if (i == 13) job.args = {std::string("nul \0 inside", 12)}; // jsonb refuses \u0000
    f.writer->submit(store::received_change(job, Timestamp{}, "w:1"),
                     [&](const store::WriteOutcome& o) {
                       if (o.committed)
                         ++committed;
                       else
                         errors.push_back(o.error);
                     });
  }
  REQUIRE(test::run_until(
      &f.loop, [&] { return committed + errors.size() == 40; }, 30s));
  CHECK(committed == 39);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].find("\\u0000") != std::string::npos);
  CHECK(f.count("true") == 39);
  CHECK(f.writer->stats().refused == 1);
  CHECK(f.close(1s) == 0);
}

TEST_CASE("close writes what is pending; a change submitted after close fails as closed") {
  store::StoreWriterOptions options;
  options.max_delay = 10'000ms;
  test::StoreWriterFixture f(options);
  int committed = 0;
  for (int i = 0; i < 100; ++i) {
    f.writer->submit(store::received_change(test::store_test_job(rng, i), Timestamp{}, "w:1"),
                     [&](const store::WriteOutcome& o) { committed += o.committed; });
  }
  CHECK(f.close(5s) == 0); // long max_delay: only close flushed them
  CHECK(committed == 100);
  CHECK(f.count("state = 'RECEIVED'") == 100);
  std::optional<store::WriteOutcome> late;
  f.writer->submit(store::received_change(test::store_test_job(rng, 0), Timestamp{}, "w:1"),
                   [&](const store::WriteOutcome& o) { late = o; });
  REQUIRE(test::run_until(
      &f.loop, [&] { return late.has_value(); }, 5s));
  CHECK_FALSE(late->committed);
  CHECK(late->error.find("closed") != std::string::npos);
}

TEST_CASE("while the database is unreachable, changes are kept, pressure rises, close fails them") {
  // A port nobody listens on: connections are refused at once.
  store::StoreWriterOptions options{.database_url = "postgresql://celeriac:secret@127.0.0.1:1/x",
                                    .max_pending = 50,
                                    .reconnect_min = 10ms,
                                    .reconnect_max = 50ms};
  test::StoreWriterFixture f(options);
  std::vector<bool> pressure;
  f.writer->on_pressure([&](bool on) { pressure.push_back(on); });
  std::vector<store::WriteOutcome> outcomes;
  for (int i = 0; i < 60; ++i) {
    f.writer->submit(store::received_change(test::store_test_job(rng, i), Timestamp{}, "w:1"),
                     [&](const store::WriteOutcome& o) { outcomes.push_back(o); });
  }
  REQUIRE(test::run_until(
      &f.loop, [&] { return !pressure.empty(); }, 5s));
  CHECK(pressure == std::vector<bool>{true});
  CHECK(test::eventually([&] { return !f.writer->stats().last_error.empty(); }, 5s));
  const auto stats = f.writer->stats();
  CHECK_FALSE(stats.connected);
  CHECK(stats.pending == 60);
  CHECK(outcomes.empty()); // nothing completes while the database is away
  CHECK(stats.last_error.find("secret") == std::string::npos);
  CHECK(f.close(100ms) == 60);
  REQUIRE(test::run_until(
      &f.loop, [&] { return outcomes.size() == 60; }, 5s));
  CHECK(std::none_of(outcomes.begin(), outcomes.end(),
                     [](const store::WriteOutcome& o) { return o.committed; }));
  CHECK(pressure == std::vector<bool>{true, false});
}
