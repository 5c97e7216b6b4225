// The chaos driver (docs/chaos.md) in a short configuration, as part of every
// test run (under a minute): 2,000 jobs per phase over 10 s, a worker kill
// every 1.5 to 3 s, RabbitMQ and PostgreSQL each stopped for 1 s and started
// again, and one poison message of each kind. It stops the shared servers,
// so `_serial_`: it runs alone. The driver's own verdict decides: exit 0 and
// a PASS line per phase.
#include <doctest/doctest.h>

#include <unistd.h>

#include "../cli/cli_process.hpp"
#include "celeriac/core/config.hpp"

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("chaos, short: kills, a RabbitMQ and a PostgreSQL restart, poison; nothing lost") {
  celeriac::test::required_env("CELERIAC_BROKER_URL");
  celeriac::test::required_env("CELERIAC_DATABASE_URL");
  celeriac::test::CliProcess chaos(
      celeriac::test::Program{CELERIAC_CHAOS_BINARY},
      {"--phases", "kills,restarts,poison", "--jobs", "2000", "--duration", "10", "--kill-interval",
       "1.5-3", "--outage", "1", "--poison-rounds", "1", "--deadline", "150"},
      celeriac::process_environment());
  const auto result = chaos.finish(std::chrono::minutes(9));
  MESSAGE(result.out);
  if (!result.err.empty()) MESSAGE("stderr: " << result.err.substr(0, 4000));
  CHECK(result.code == 0);
  CHECK(count(result.out, "— PASS") == 6); // each phase's line, and again in the summary
  CHECK(count(result.out, "— FAIL") == 0);
}
