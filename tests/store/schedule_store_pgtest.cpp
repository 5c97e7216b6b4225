// schedule_store.hpp against the private PostgreSQL: syncing schedules,
// recording and publishing fires, and the scheduler's advisory lock. Each test
// has a fresh schema; lock tests use random keys.
#include "celeriac/store/schedule_store.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "celeriac/core/error.hpp"
#include "store_fixture.hpp"
#include "test_env.hpp"

namespace {

using celeriac::JobId;
using celeriac::parse_iso8601;
using celeriac::Timestamp;
using celeriac::test::MigratedSchema;
using celeriac::test::random_job_id;
namespace store = celeriac::store;

Timestamp at(const char* text) {
  return parse_iso8601(text).value();
}

store::ScheduleDefinition def(const std::string& name, const char* json, bool enabled = true) {
  store::ScheduleDefinition d;
  d.name = name;
  d.definition = nlohmann::json::parse(json);
  d.enabled = enabled;
  return d;
}

store::FireRecord fire(const std::string& schedule, const char* time, JobId id,
                       bool manual = false) {
  store::FireRecord f;
  f.schedule = schedule;
  f.fire_time = at(time);
  f.job_id = id;
  f.manual = manual;
  return f;
}

store::ScheduleSync sync(MigratedSchema& db, const std::vector<store::ScheduleDefinition>& defs) {
  return store::sync_schedules(db.conn, db.name, defs);
}

std::vector<store::FireRecord> record(MigratedSchema& db,
                                      const std::vector<store::FireRecord>& fires) {
  return store::record_fires(db.conn, db.name, fires);
}

store::ScheduleRow row_of(MigratedSchema& db, const std::string& name) {
  for (auto& row : store::list_schedules(db.conn, db.name)) {
    if (row.name == name) return row;
  }
  FAIL("no schedule " << name);
  return {};
}

using Names = std::vector<std::string>;

std::vector<Timestamp> times_of(const std::vector<store::FireRecord>& fires) {
  std::vector<Timestamp> out;
  for (const auto& f : fires)
    out.push_back(f.fire_time);
  return out;
}

std::int64_t random_key() {
  static std::mt19937_64 rng{std::random_device{}()};
  return static_cast<std::int64_t>(rng());
}

void set_application_name(pqxx::connection& conn, const std::string& name) {
  pqxx::nontransaction tx{conn};
  tx.exec0("set application_name = " + tx.quote(name));
}

TEST_CASE("sync_schedules: adds, changes, removes and brings back, compared as jsonb") {
  MigratedSchema db;
  auto first = sync(db, {def("b", R"({"every": "1m"})"), def("a", R"({"cron": "0 * * * *"})")});
  CHECK(first.added == Names{"a", "b"});
  CHECK(first.changed.empty());
  CHECK(first.removed.empty());
  const auto a0 = row_of(db, "a");
  const auto b0 = row_of(db, "b");
  CHECK(a0.definition == nlohmann::json::parse(R"({"cron": "0 * * * *"})"));
  CHECK(a0.enabled);
  CHECK_FALSE(a0.removed_at.has_value());

  SUBCASE("an unchanged row keeps its updated_at; a new definition or flag is a change") {
    auto second = sync(db, {def("a", R"({"cron": "0 * * * *"})"), def("b", R"({"every": "2m"})"),
                            def("c", R"({"every": 1})", false)});
    CHECK(second.added == Names{"c"});
    CHECK(second.changed == Names{"b"});
    CHECK(second.removed.empty());
    CHECK(row_of(db, "a").updated_at == a0.updated_at);
    const auto b1 = row_of(db, "b");
    CHECK(b1.updated_at > b0.updated_at);
    CHECK(b1.definition == nlohmann::json::parse(R"({"every": "2m"})"));
    CHECK_FALSE(row_of(db, "c").enabled);

    // 1.0 and 1 are the same jsonb number, and key order does not matter: no change.
    auto third = sync(db, {def("a", R"({"cron": "0 * * * *"})"), def("b", R"({"every": "2m"})"),
                           def("c", R"({"every": 1.0})", false)});
    CHECK(third.added.empty());
    CHECK(third.changed.empty());
    CHECK(third.removed.empty());
    // The flag alone is a change.
    auto fourth = sync(db, {def("a", R"({"cron": "0 * * * *"})"), def("b", R"({"every": "2m"})"),
                            def("c", R"({"every": 1})", true)});
    CHECK(fourth.changed == Names{"c"});
    CHECK(row_of(db, "c").enabled);
  }

  SUBCASE("a removed schedule keeps its fires and comes back as changed") {
    const JobId id = random_job_id();
    REQUIRE(record(db, {fire("a", "2026-03-01T12:00:00Z", id)}).size() == 1);

    auto removal = sync(db, {def("b", R"({"every": "1m"})")});
    CHECK(removal.added.empty());
    CHECK(removal.changed.empty());
    CHECK(removal.removed == Names{"a"});
    const auto removed = row_of(db, "a");
    CHECK_FALSE(removed.enabled);
    REQUIRE(removed.removed_at.has_value());
    CHECK(removed.updated_at > a0.updated_at);
    CHECK(row_of(db, "b").updated_at == b0.updated_at);
    const auto kept = store::fires_of(db.conn, db.name, "a");
    REQUIRE(kept.size() == 1);
    CHECK(kept[0].job_id == id);
    CHECK(removed.last_fire == at("2026-03-01T12:00:00Z"));

    // Already removed: nothing to do, removed_at stays.
    auto again = sync(db, {def("b", R"({"every": "1m"})")});
    CHECK(again.added.empty());
    CHECK(again.changed.empty());
    CHECK(again.removed.empty());
    CHECK(row_of(db, "a").removed_at == removed.removed_at);

    auto back = sync(db, {def("a", R"({"cron": "0 * * * *"})"), def("b", R"({"every": "1m"})")});
    CHECK(back.added.empty());
    CHECK(back.changed == Names{"a"});
    CHECK(back.removed.empty());
    const auto returned = row_of(db, "a");
    CHECK(returned.enabled);
    CHECK_FALSE(returned.removed_at.has_value());
    CHECK(returned.updated_at > removed.updated_at);
  }

  SUBCASE("an empty list removes every schedule") {
    auto all = sync(db, {});
    CHECK(all.removed == Names{"a", "b"});
    CHECK(db.count("select count(*) from " + db.table("schedules") + " where enabled") == 0);
  }

  SUBCASE("a name twice is rejected and nothing changes") {
    CHECK_THROWS_AS(sync(db, {def("a", "{}"), def("z", "{}"), def("a", "{}")}),
                    celeriac::InvalidInput);
    CHECK(db.count("select count(*) from " + db.table("schedules")) == 2);
  }
}

TEST_CASE("record_fires: a fire is recorded once, by key and by job id, in input order") {
  MigratedSchema db;
  sync(db, {def("a", "{}"), def("b", "{}")});
  const JobId id1 = random_job_id();
  const JobId id2 = random_job_id();
  const JobId id3 = random_job_id();

  auto published = fire("b", "2026-03-01T12:00:00.000001Z", id2, true);
  published.published_at = at("2026-03-01T12:00:01Z"); // ignored
  const auto first = record(db, {fire("a", "2026-03-01T12:05:00.123456Z", id1), published,
                                 fire("a", "2026-03-01T11:00:00Z", id3)});
  REQUIRE(first.size() == 3);
  CHECK(first[0].schedule == "a");
  CHECK(first[0].fire_time == at("2026-03-01T12:05:00.123456Z"));
  CHECK(first[0].job_id == id1);
  CHECK_FALSE(first[0].manual);
  CHECK(first[1].schedule == "b");
  CHECK(first[1].job_id == id2);
  CHECK(first[1].manual);
  CHECK_FALSE(first[1].published_at.has_value());
  CHECK(first[2].job_id == id3);

  // The same key again, even with another job id: not recorded, not returned.
  CHECK(record(db, {fire("a", "2026-03-01T12:05:00.123456Z", random_job_id())}).empty());
  // Another key with a job id already used: not recorded either.
  CHECK(record(db, {fire("a", "2026-03-01T13:00:00Z", id1)}).empty());
  CHECK(db.count("select count(*) from " + db.table("schedule_fires")) == 3);

  // A mixed batch returns only the new fires; a key repeated within it, once.
  const JobId id4 = random_job_id();
  const JobId id5 = random_job_id();
  const auto mixed = record(
      db,
      {fire("a", "2026-03-01T11:00:00Z", random_job_id()), fire("b", "2026-03-02T00:00:00Z", id4),
       fire("b", "2026-03-02T00:00:00Z", random_job_id()), fire("a", "2026-03-01T10:00:00Z", id5)});
  REQUIRE(mixed.size() == 2);
  CHECK(mixed[0].job_id == id4);
  CHECK(mixed[1].job_id == id5);
  CHECK(db.count("select count(*) from " + db.table("schedule_fires")) == 5);

  CHECK(record(db, {}).empty());
}

TEST_CASE("mark_published sets published_at only where it is null") {
  MigratedSchema db;
  sync(db, {def("a", "{}")});
  const auto f1 = fire("a", "2026-03-01T12:00:00Z", random_job_id());
  const auto f2 = fire("a", "2026-03-01T12:01:00Z", random_job_id());
  record(db, {f1, f2});

  store::mark_published(db.conn, db.name, std::vector{f1});
  auto fires = store::fires_of(db.conn, db.name, "a");
  REQUIRE(fires.size() == 2);
  REQUIRE(fires[0].published_at.has_value());
  CHECK_FALSE(fires[1].published_at.has_value());
  const Timestamp first_published = *fires[0].published_at;

  store::mark_published(db.conn, db.name, std::vector{f1, f2});
  fires = store::fires_of(db.conn, db.name, "a");
  CHECK(fires[0].published_at == first_published);
  REQUIRE(fires[1].published_at.has_value());
  CHECK(*fires[1].published_at > first_published);
  CHECK(store::unpublished_fires(db.conn, db.name, 10).empty());

  store::mark_published(db.conn, db.name, {}); // nothing to do
}

TEST_CASE("unpublished_fires: oldest first, at most LIMIT") {
  MigratedSchema db;
  sync(db, {def("a", "{}"), def("b", "{}")});
  const auto published = fire("a", "2026-03-01T09:00:00Z", random_job_id());
  record(db, {fire("a", "2026-03-01T12:00:00Z", random_job_id()),
              fire("b", "2026-03-01T10:00:00Z", random_job_id()), published,
              fire("a", "2026-03-01T11:00:00Z", random_job_id())});
  store::mark_published(db.conn, db.name, std::vector{published});

  CHECK(times_of(store::unpublished_fires(db.conn, db.name, 2)) ==
        std::vector{at("2026-03-01T10:00:00Z"), at("2026-03-01T11:00:00Z")});
  const auto all = store::unpublished_fires(db.conn, db.name, 100);
  CHECK(times_of(all) == std::vector{at("2026-03-01T10:00:00Z"), at("2026-03-01T11:00:00Z"),
                                     at("2026-03-01T12:00:00Z")});
  CHECK(all[0].schedule == "b");
  CHECK(store::unpublished_fires(db.conn, db.name, 0).empty());

  // Only fires recorded at least MIN_AGE ago (these are a few ms old).
  CHECK(store::unpublished_fires(db.conn, db.name, 100, std::chrono::hours(1)).empty());
  // Not the fires of a schedule removed or disabled since.
  sync(db, {def("a", "{}")});
  CHECK(times_of(store::unpublished_fires(db.conn, db.name, 100)) ==
        std::vector{at("2026-03-01T11:00:00Z"), at("2026-03-01T12:00:00Z")});
  sync(db, {def("a", "{}", false)});
  CHECK(store::unpublished_fires(db.conn, db.name, 100).empty());
}

TEST_CASE("add_schedule_if_absent inserts a missing row and leaves an existing one alone") {
  MigratedSchema db;
  sync(db, {def("a", R"({"every": "1m"})")});
  CHECK_FALSE(store::add_schedule_if_absent(db.conn, db.name, def("a", R"({"every": "5m"})")));
  CHECK(row_of(db, "a").definition == nlohmann::json::parse(R"({"every": "1m"})"));
  CHECK(store::add_schedule_if_absent(db.conn, db.name, def("b", R"({"every": "5m"})")));
  CHECK(row_of(db, "b").definition == nlohmann::json::parse(R"({"every": "5m"})"));
  CHECK(row_of(db, "a").removed_at == std::nullopt);
}

TEST_CASE("fires_of: one schedule's fires from SINCE on, oldest first") {
  MigratedSchema db;
  sync(db, {def("a", "{}"), def("b", "{}")});
  record(db, {fire("a", "2026-03-01T12:00:00Z", random_job_id()),
              fire("a", "2026-03-01T10:00:00Z", random_job_id()),
              fire("b", "2026-03-01T11:00:00Z", random_job_id()),
              fire("a", "2026-03-01T11:00:00Z", random_job_id(), true)});
  CHECK(times_of(store::fires_of(db.conn, db.name, "a")) ==
        std::vector{at("2026-03-01T10:00:00Z"), at("2026-03-01T11:00:00Z"),
                    at("2026-03-01T12:00:00Z")});
  const auto since = store::fires_of(db.conn, db.name, "a", at("2026-03-01T11:00:00Z"));
  CHECK(times_of(since) == std::vector{at("2026-03-01T11:00:00Z"), at("2026-03-01T12:00:00Z")});
  CHECK(since[0].manual);
  CHECK(store::fires_of(db.conn, db.name, "a", at("2026-03-01T12:00:00.000001Z")).empty());
  CHECK(store::fires_of(db.conn, db.name, "nope").empty());
}

TEST_CASE("list_schedules: by name, with the latest scheduled and manual fires apart") {
  MigratedSchema db;
  sync(db, {def("b", R"({"every": "1m"})"), def("a", "{}"), def("c", "{}")});
  record(db, {fire("a", "2026-03-01T10:00:00Z", random_job_id()),
              fire("a", "2026-03-01T12:00:00Z", random_job_id()),
              fire("a", "2026-03-01T13:00:00Z", random_job_id(), true),
              fire("a", "2026-03-01T11:00:00Z", random_job_id(), true),
              fire("b", "2026-03-01T09:00:00Z", random_job_id(), true)});
  const auto rows = store::list_schedules(db.conn, db.name);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].name == "a");
  CHECK(rows[0].last_fire == at("2026-03-01T12:00:00Z"));
  CHECK(rows[0].last_manual_fire == at("2026-03-01T13:00:00Z"));
  CHECK(rows[1].name == "b");
  CHECK(rows[1].definition == nlohmann::json::parse(R"({"every": "1m"})"));
  CHECK_FALSE(rows[1].last_fire.has_value());
  CHECK(rows[1].last_manual_fire == at("2026-03-01T09:00:00Z"));
  CHECK(rows[2].name == "c");
  CHECK_FALSE(rows[2].last_fire.has_value());
  CHECK_FALSE(rows[2].last_manual_fire.has_value());
}

TEST_CASE("advisory lock: one session holds it, the other sees who, and takes over") {
  std::int64_t key = random_key();
  SUBCASE("a positive key") {
    key &= std::numeric_limits<std::int64_t>::max();
  }
  SUBCASE("a negative key") {
    key |= std::numeric_limits<std::int64_t>::min();
  }
  SUBCASE("a key whose low half has its top bit set") {
    key = (key & ~std::int64_t{0xffffffff}) | std::int64_t{0x80000001};
  }
  CAPTURE(key);
  const std::string url = celeriac::test::database_url();
  std::optional<pqxx::connection> leader{std::in_place, url};
  pqxx::connection follower{url};
  set_application_name(*leader, "celeriac-scheduler leader:1");
  set_application_name(follower, "celeriac-scheduler follower:2");

  CHECK_FALSE(store::advisory_lock_holder(follower, key).has_value());
  CHECK(store::try_advisory_lock(*leader, key));
  CHECK(store::try_advisory_lock(*leader, key)); // already held: still true
  CHECK_FALSE(store::try_advisory_lock(follower, key));
  CHECK(store::holds_advisory_lock(*leader, key));
  CHECK_FALSE(store::holds_advisory_lock(follower, key));
  CHECK_FALSE(store::holds_advisory_lock(*leader, key ^ 1));

  const auto holder = store::advisory_lock_holder(follower, key);
  REQUIRE(holder.has_value());
  CHECK(holder->backend_pid == leader->backendpid());
  CHECK(holder->application_name == "celeriac-scheduler leader:1");
  CHECK(holder->backend_start.has_value());

  // Survives a committed transaction on the leader's session.
  {
    pqxx::work tx{*leader};
    tx.exec1("select 1");
    tx.commit();
  }
  CHECK(store::holds_advisory_lock(*leader, key));

  leader.reset(); // the session ends, and with it the lock
  CHECK(celeriac::test::eventually([&] { return store::try_advisory_lock(follower, key); },
                                   std::chrono::seconds(10)));
  CHECK(store::holds_advisory_lock(follower, key));
  const auto next = store::advisory_lock_holder(follower, key);
  REQUIRE(next.has_value());
  CHECK(next->backend_pid == follower.backendpid());
  CHECK(next->application_name == "celeriac-scheduler follower:2");
}

} // namespace
