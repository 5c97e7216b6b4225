// Proves the PostgreSQL tier works: the private database from scripts/services
// is reachable with libpqxx 6.4, and one row makes a round trip through a table
// in a uniquely named schema that is dropped afterwards.
#include <pqxx/pqxx>

#include <doctest/doctest.h>

#include <string>

#include "test_env.hpp"

TEST_CASE("a row round-trips through a private schema") {
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};
  const std::string schema = celeriac::test::unique_name("celeriac_test_smoke_");
  {
    pqxx::work tx{conn};
    tx.exec0("create schema " + tx.quote_name(schema));
    tx.exec0("create table " + tx.quote_name(schema) + ".items (id int primary key, note text)");
    tx.exec_params0("insert into " + tx.quote_name(schema) + ".items values ($1, $2)", 7,
                    "héllo, world");
    tx.commit();
  }
  {
    pqxx::read_transaction tx{conn};
    pqxx::row row = tx.exec_params1(
        "select id, note from " + tx.quote_name(schema) + ".items where id = $1", 7);
    CHECK(row[0].as<int>() == 7);
    CHECK(row[1].as<std::string>() == "héllo, world");
  }
  pqxx::work tx{conn};
  tx.exec0("drop schema " + tx.quote_name(schema) + " cascade");
  tx.commit();
}
