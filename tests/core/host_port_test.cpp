#include "celeriac/core/host_port.hpp"

#include <doctest/doctest.h>

using celeriac::parse_host_port;

TEST_CASE("parse_host_port splits at the last colon and takes ports 0 to 65535") {
  const auto v4 = parse_host_port("127.0.0.1:9100");
  REQUIRE(v4.has_value());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 9100);
  const auto v6 = parse_host_port("[::1]:0");
  REQUIRE(v6.has_value());
  CHECK(v6->host == "[::1]");
  CHECK(v6->port == 0);
  for (const char* bad :
       {"", "9100", ":9100", "host:", "host:65536", "host:-1", "host:80x", "host: 80"}) {
    CHECK_MESSAGE(!parse_host_port(bad).has_value(), bad);
  }
}
