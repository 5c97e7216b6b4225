// PostgreSQL restarted in the middle of a 50,000-change stream: the writer
// keeps what it could not write, holds its producer back when the backlog
// reaches its bound, reconnects by itself, and every change is in the table
// afterwards. Stops the shared private PostgreSQL, so it runs alone (RUN_SERIAL).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "store_writer_fixture.hpp"

using namespace celeriac;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kRoot = std::filesystem::path(__FILE__).parent_path() / ".." / "..";

int services(const std::string& args) {
  const std::string command =
      (kRoot / "scripts" / "services").string() + " " + args + " >/dev/null";
  return std::system(command.c_str());
}

} // namespace

TEST_CASE("a database restart in the middle of 50,000 changes loses none of them") {
  store::StoreWriterOptions options;
  options.max_pending = 8'000;
  options.reconnect_max = 500ms;
  test::StoreWriterFixture f(options);
  constexpr int kJobs = 25'000; // two changes each
  std::mt19937_64 rng{std::random_device{}()};
  std::size_t committed = 0, failed = 0, max_pending = 0;
  bool held_back = false, saw_pressure = false;
  f.writer->on_pressure([&](bool on) {
    held_back = on;
    saw_pressure = saw_pressure || on;
  });

  // The producer: 100 jobs per 5 ms tick (about 40,000 changes/s offered),
  // pausing while the writer says its backlog is full.
  int produced = 0;
  uv_timer_t producer;
  uv_timer_init(&f.loop, &producer);
  auto tick = [&] {
    for (int i = 0; i < 100 && !held_back && produced < kJobs; ++i, ++produced) {
      for (auto& change : test::received_and_done(test::store_test_job(rng, produced), produced)) {
        f.writer->submit(std::move(change), [&](const store::WriteOutcome& o) {
          (o.committed ? committed : failed)++;
        });
      }
    }
    max_pending = std::max(max_pending, f.writer->stats().pending);
  };
  std::function<void()> tick_fn = tick;
  producer.data = &tick_fn;
  uv_timer_start(
      &producer, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 5, 5);

  REQUIRE(test::run_until(
      &f.loop, [&] { return committed >= 5'000; }, 60s));
  std::atomic<bool> restarted = false;
  std::thread restart([&] {
    CHECK(services("down postgres") == 0);
    CHECK(services("up postgres") == 0);
    restarted = true;
  });
  const bool all = test::run_until(
      &f.loop, [&] { return committed + failed == 2 * kJobs && restarted; }, 180s);
  restart.join();
  uv_close(reinterpret_cast<uv_handle_t*>(&producer), nullptr);
  REQUIRE(all);
  CHECK(failed == 0);
  CHECK(committed == 2 * kJobs);
  const auto stats = f.writer->stats();
  MESSAGE("reconnects " << stats.reconnects << ", batches " << stats.batches << ", most pending "
                        << max_pending << ", pressure seen " << saw_pressure);
  CHECK(stats.reconnects >= 1);
  CHECK(max_pending <= options.max_pending + 400); // bounded: the producer was held back
  // A fresh connection: the fixture's own one died with the restart.
  pqxx::connection check{test::database_url()};
  pqxx::work tx{check};
  CHECK(tx.exec1("select count(*) from " + f.schema.table("jobs") +
                 " where state = 'SUCCESS' and task is not null")[0]
            .as<long>() == kJobs);
  tx.commit();
  CHECK(f.close(1s) == 0);
}
