// A fresh, migrated schema for one pgtest, dropped when the test ends.
#pragma once

#include <string>

#include <doctest/doctest.h>
#include <pqxx/pqxx>

#include "celeriac/store/migrations.hpp"
#include "test_env.hpp"

namespace celeriac::test {

inline std::string database_url() {
  return required_env("CELERIAC_DATABASE_URL");
}

struct ScratchSchema {
  std::string name;
  pqxx::connection conn{database_url()};

  explicit ScratchSchema(const std::string& prefix = "celeriac_test_") : name(unique_name(prefix)) {
    store::migrate(conn, name);
  }
  ScratchSchema(const ScratchSchema&) = delete;
  ScratchSchema& operator=(const ScratchSchema&) = delete;
  ~ScratchSchema() {
    try {
      // A connection of its own: CONN may have died with a server restart.
      pqxx::connection fresh{database_url()};
      pqxx::work tx{fresh};
      tx.exec0("drop schema if exists " + tx.quote_name(name) + " cascade");
      tx.commit();
    } catch (const std::exception& e) {
      MESSAGE("could not drop schema " << name << ": " << e.what());
    }
  }

  std::string table(const std::string& table_name) {
    return conn.quote_name(name) + "." + table_name;
  }

  // The first column of the first row of QUERY, as T.
  template <typename T>
  T scalar(const std::string& query) {
    pqxx::work tx{conn};
    return tx.exec1(query)[0].as<T>();
  }
};

} // namespace celeriac::test
