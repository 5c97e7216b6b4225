// with_connect_timeout: every database connection celeriac opens is bounded.
#include "celeriac/store/database_url.hpp"

#include <doctest/doctest.h>

using celeriac::store::with_connect_timeout;
using namespace std::chrono_literals;

TEST_CASE("a connect_timeout is added to URIs and keyword strings, never twice") {
  CHECK(with_connect_timeout("postgresql://u@h/db") == "postgresql://u@h/db?connect_timeout=5");
  CHECK(with_connect_timeout("postgres://h/db?sslmode=require", 7500ms) ==
        "postgres://h/db?sslmode=require&connect_timeout=8");
  CHECK(with_connect_timeout("host=h dbname=db", 100ms) == "host=h dbname=db connect_timeout=2");
  CHECK(with_connect_timeout("postgresql://h/db?connect_timeout=30") ==
        "postgresql://h/db?connect_timeout=30");
}
