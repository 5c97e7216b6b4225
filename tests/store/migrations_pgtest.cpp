// Migrations against the private PostgreSQL: from empty and from each older
// version, rerun, concurrent migrators, a schema newer than the binary, bad
// schema names, the constraints and trigger of version 1, version 3's
// partial unique index over rows of version 2, and version 4's partial
// indexes, used by the queries they are for. Each test works
// in its own schema, dropped at the end.
#include "celeriac/store/migrations.hpp"

#include <pqxx/pqxx>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_env.hpp"

namespace {

using celeriac::store::current_version;
using celeriac::store::latest_version;
using celeriac::store::migrate;

std::string database_url() {
  return celeriac::test::required_env("CELERIAC_DATABASE_URL");
}

// A fresh schema name and a connection; drops the schema when done.
struct ScratchSchema {
  std::string name = celeriac::test::unique_name("celeriac_test_migr_");
  pqxx::connection conn{database_url()};

  ScratchSchema() = default;
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;
  ~ScratchSchema() {
    try {
      pqxx::work tx{conn};
      tx.exec0("drop schema if exists " + tx.quote_name(name) + " cascade");
      tx.commit();
    } catch (const std::exception& e) {
      MESSAGE("could not drop schema " << name << ": " << e.what());
    }
  }

  std::string table(const std::string& table_name) {
    return conn.quote_name(name) + "." + table_name;
  }
  std::vector<std::string> strings(const std::string& query) {
    pqxx::work tx{conn};
    std::vector<std::string> out;
    for (const auto& row : tx.exec(query))
      out.push_back(row[0].as<std::string>());
    return out;
  }
  long count(const std::string& query) {
    pqxx::work tx{conn};
    return tx.exec1(query)[0].as<long>();
  }
};

std::vector<int> versions_from(int first) {
  std::vector<int> out;
  for (int v = first; v <= latest_version(); ++v)
    out.push_back(v);
  return out;
}

bool schema_exists(pqxx::connection& conn, const std::string& schema) {
  pqxx::work tx{conn};
  return tx.exec_params1("select exists (select from pg_namespace where nspname = $1)", schema)[0]
      .as<bool>();
}

} // namespace

TEST_CASE("from empty to latest: every table and index exists") {
  ScratchSchema s;
  const auto result = migrate(s.conn, s.name);
  CHECK(result.from_version == 0);
  CHECK(result.to_version == latest_version());
  CHECK(result.applied == versions_from(1));
  CHECK(current_version(s.conn, s.name) == latest_version());

  const std::vector<std::string> tables =
      s.strings("select table_name from information_schema.tables where table_schema = " +
                s.conn.quote(s.name) + " order by 1");
  CHECK(tables == std::vector<std::string>{"jobs", "queue_samples", "revoked", "schedule_fires",
                                           "schedules", "schema_migrations", "workers"});
  const std::vector<std::string> indexes =
      s.strings("select indexname from pg_indexes where schemaname = " + s.conn.quote(s.name) +
                " order by 1");
  for (const char* expected :
       {"jobs_finished_at_idx", "jobs_live_state_queue_idx", "jobs_root_id_idx",
        "jobs_unique_key_key", "schedule_fires_pkey", "schedule_fires_job_id_key",
        "schedule_fires_unpublished_idx", "queue_samples_pkey", "queue_samples_sampled_at_idx",
        "revoked_expires_at_idx", "workers_pkey", "schedules_pkey"}) {
    CHECK_MESSAGE(std::find(indexes.begin(), indexes.end(), expected) != indexes.end(), expected);
  }
  const std::vector<std::string> names =
      s.strings("select name from " + s.table("schema_migrations") + " order by version");
  REQUIRE(names.size() == static_cast<std::size_t>(latest_version()));
  CHECK(names.front() == "initial");
}

TEST_CASE("a second run is a no-op") {
  ScratchSchema s;
  migrate(s.conn, s.name);
  const auto again = migrate(s.conn, s.name);
  CHECK(again.from_version == latest_version());
  CHECK(again.to_version == latest_version());
  CHECK(again.applied.empty());
  CHECK(s.count("select count(*) from " + s.table("schema_migrations")) == latest_version());
}

TEST_CASE("from each older version to latest") {
  for (int start = 0; start <= latest_version(); ++start) {
    CAPTURE(start);
    ScratchSchema s;
    CHECK(migrate(s.conn, s.name, start).to_version == start);
    CHECK(current_version(s.conn, s.name) == start);
    const auto result = migrate(s.conn, s.name);
    CHECK(result.from_version == start);
    CHECK(result.applied == versions_from(start + 1));
    CHECK(current_version(s.conn, s.name) == latest_version());
  }
}

TEST_CASE("four processes migrating at once: all succeed, each version applied once") {
  ScratchSchema s;
  constexpr int kMigrators = 4;
  std::vector<celeriac::store::MigrationResult> results(kMigrators);
  std::vector<std::string> errors(kMigrators);
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&, i] {
      try {
        pqxx::connection conn{database_url()};
        results[static_cast<std::size_t>(i)] = migrate(conn, s.name);
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  std::vector<int> applied;
  for (int i = 0; i < kMigrators; ++i) {
    const auto index = static_cast<std::size_t>(i);
    CHECK_MESSAGE(errors[index].empty(), errors[index]);
    CHECK(results[index].to_version == latest_version());
    applied.insert(applied.end(), results[index].applied.begin(), results[index].applied.end());
  }
  std::sort(applied.begin(), applied.end());
  CHECK(applied == versions_from(1));
  CHECK(s.count("select count(*) from " + s.table("schema_migrations")) == latest_version());
}

TEST_CASE("a database newer than the binary is refused, naming both versions") {
  ScratchSchema s;
  migrate(s.conn, s.name);
  const int newer = latest_version() + 1;
  {
    pqxx::work tx{s.conn};
    tx.exec_params0("insert into " + s.table("schema_migrations") +
                        " (version, name) values ($1, 'from_the_future')",
                    newer);
    tx.commit();
  }
  try {
    migrate(s.conn, s.name);
    FAIL("migrate accepted a newer schema");
  } catch (const celeriac::store::SchemaTooNew& e) {
    CHECK(e.database_version() == newer);
    CHECK(e.binary_version() == latest_version());
    const std::string what = e.what();
    CHECK(what.find("version " + std::to_string(newer)) != std::string::npos);
    CHECK(what.find("version " + std::to_string(latest_version())) != std::string::npos);
  }
  CHECK_THROWS_AS(migrate(s.conn, s.name, 0), celeriac::InfrastructureError);
}

TEST_CASE("bad schema names are refused before any SQL") {
  pqxx::connection conn{database_url()};
  for (const char* bad : {"x; drop", "", "Celeriac", "1abc", "pg_celeriac", "a\"b", "x y",
                          "a234567890123456789012345678901234567890123456789012345"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(migrate(conn, bad), celeriac::InvalidInput);
    CHECK_THROWS_AS(current_version(conn, bad), celeriac::InvalidInput);
    CHECK_FALSE(schema_exists(conn, bad));
  }
  CHECK_NOTHROW(celeriac::store::validate_schema_name("celeriac"));
  CHECK_NOTHROW(celeriac::store::validate_schema_name("_tenant_2"));
  CHECK_THROWS_AS(migrate(conn, "celeriac_ok", latest_version() + 1), celeriac::InvalidInput);
  CHECK_FALSE(schema_exists(conn, "celeriac_ok"));
}

TEST_CASE("jobs.state accepts the seven states and rejects any other") {
  ScratchSchema s;
  migrate(s.conn, s.name);
  for (const char* state :
       {"PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"}) {
    pqxx::work tx{s.conn};
    tx.exec_params0(
        "insert into " + s.table("jobs") + " (id, state) values (gen_random_uuid(), $1)",
        std::string(state));
    tx.commit();
  }
  pqxx::work tx{s.conn};
  CHECK_THROWS_AS(tx.exec0("insert into " + s.table("jobs") +
                           " (id, state) values (gen_random_uuid(), 'DONE')"),
                  pqxx::check_violation);
}

TEST_CASE("schedule_fires holds one row per (schedule, fire_time)") {
  ScratchSchema s;
  migrate(s.conn, s.name);
  {
    pqxx::work tx{s.conn};
    tx.exec0("insert into " + s.table("schedules") +
             " (name, definition) values ('nightly', '{}')");
    tx.exec0("insert into " + s.table("schedule_fires") +
             " (schedule, fire_time, job_id) values ('nightly', '2026-01-01T00:00Z',"
             " gen_random_uuid())");
    tx.commit();
  }
  pqxx::work tx{s.conn};
  CHECK_THROWS_AS(tx.exec0("insert into " + s.table("schedule_fires") +
                           " (schedule, fire_time, job_id) values ('nightly', '2026-01-01T00:00Z',"
                           " gen_random_uuid())"),
                  pqxx::unique_violation);
}

namespace {

class DoneListener : public pqxx::notification_receiver {
 public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    payloads.push_back(payload);
  }
  std::vector<std::string> payloads;
};

} // namespace

TEST_CASE("a job reaching a terminal state notifies once, after commit") {
  ScratchSchema s;
  migrate(s.conn, s.name);
  pqxx::connection listen_conn{database_url()};
  DoneListener listener{listen_conn, s.name + "_job_done"};
  const std::string first = "00000000-0000-4000-8000-000000000001";
  const std::string second = "00000000-0000-4000-8000-000000000002";
  auto run = [&s](const std::string& sql, const std::string& id) {
    pqxx::work tx{s.conn};
    tx.exec_params0(sql, id);
    tx.commit();
  };
  const std::string jobs = s.table("jobs");
  run("insert into " + jobs + " (id, state) values ($1, 'RECEIVED')", first);
  run("update " + jobs + " set state = 'SUCCESS' where id = $1", first);
  run("update " + jobs + " set state = 'SUCCESS', updated_at = now() where id = $1", first);
  // Notifications arrive in commit order: once the second job's is in, any
  // duplicate for the first would be too.
  run("insert into " + jobs + " (id, state) values ($1, 'FAILURE')", second);
  CHECK(celeriac::test::eventually(
      [&] {
        listen_conn.get_notifs();
        return listener.payloads.size() >= 2;
      },
      std::chrono::seconds(5)));
  CHECK(listener.payloads == std::vector<std::string>{first, second});
}

TEST_CASE("version 3 keeps unique_key unique and the rows of version 2 as they were") {
  ScratchSchema s;
  migrate(s.conn, s.name, 2);
  const std::string jobs = s.table("jobs");
  auto run = [&s](const std::string& sql) {
    pqxx::work tx{s.conn};
    tx.exec0(sql);
    tx.commit();
  };
  run("insert into " + jobs +
      " (id, state, unique_key) values ('00000000-0000-4000-8000-000000000001', 'SUCCESS',"
      " 'sync-42'), ('00000000-0000-4000-8000-000000000002', 'STARTED', null)");
  migrate(s.conn, s.name);
  CHECK(s.count("select count(*) from " + jobs) == 2);
  // Many rows without a key, as before; a second row with a taken key is refused.
  run("insert into " + jobs + " (id, state) values ('00000000-0000-4000-8000-000000000003', " +
      "'PENDING')");
  CHECK_THROWS_AS(run("insert into " + jobs +
                      " (id, state, unique_key) values ('00000000-0000-4000-8000-000000000004',"
                      " 'PENDING', 'sync-42')"),
                  pqxx::unique_violation);
  CHECK(s.count("select count(*) from " + jobs + " where unique_key is null") == 2);
  // A lookup by key still has its index.
  CHECK(s.count("select count(*) from pg_indexes where schemaname = " + s.conn.quote(s.name) +
                " and indexname = 'jobs_unique_key_key' and indexdef like '%WHERE%'") == 1);
}

TEST_CASE("version 4 indexes live jobs by state and queue, and descendants by root") {
  ScratchSchema s;
  migrate(s.conn, s.name, 3);
  const std::string jobs = s.table("jobs");
  auto run = [&s](const std::string& sql) {
    pqxx::work tx{s.conn};
    tx.exec0(sql);
    tx.commit();
  };
  const std::string root = "00000000-0000-4000-8000-000000000001";
  run("insert into " + jobs + " (id, queue, state, root_id) values ('" + root +
      "', 'default', 'SUCCESS', '" + root + "'), ('00000000-0000-4000-8000-000000000002'," +
      " 'default', 'STARTED', '" + root + "'), ('00000000-0000-4000-8000-000000000003'," +
      " 'high', 'PENDING', null)");
  migrate(s.conn, s.name);
  CHECK(s.count("select count(*) from " + jobs) == 3);
  // The queries the indexes serve still find every row they should.
  CHECK(s.count("select count(*) from " + jobs + " where id = '" + root + "' or (root_id = '" +
                root + "' and root_id <> id)") == 2);
  CHECK(s.count(
            "select count(*) from " + jobs +
            " where state in ('PENDING', 'RECEIVED', 'STARTED', 'RETRY') and queue = 'default'") ==
        1);
  // And the planner uses them (sequential scans off: the table is tiny).
  auto plan = [&s](const std::string& query) {
    pqxx::work tx{s.conn};
    tx.exec0("set local enable_seqscan = off");
    std::string text;
    for (const auto& row : tx.exec("explain " + query))
      text += row[0].as<std::string>() + "\n";
    return text;
  };
  CHECK(plan("select count(*) from " + jobs + " where root_id = '" + root + "' and root_id <> id")
            .find("jobs_root_id_idx") != std::string::npos);
  CHECK(plan("select state, count(*) from " + jobs +
             " where state in ('PENDING', 'RECEIVED', 'STARTED', 'RETRY') and queue = 'default'"
             " group by state")
            .find("jobs_live_state_queue_idx") != std::string::npos);
  // Roots and finished jobs have no entry.
  CHECK(s.count("select count(*) from pg_indexes where schemaname = " + s.conn.quote(s.name) +
                " and indexname in ('jobs_live_state_queue_idx', 'jobs_root_id_idx')"
                " and indexdef like '%WHERE%'") == 2);
}
