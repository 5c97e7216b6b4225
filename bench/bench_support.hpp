// What the worker benches share: their usage errors and environment, scratch
// names, the store count they wait on, and latency percentiles.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace celeriac::bench {

// Bad command-line usage: the program prints it with its usage and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    throw UsageError(fmt::format("{} is not set (eval \"$(scripts/services env)\")", name));
  return value;
}

// 16 random hex digits, for queue and schema names of a run's own.
inline std::string random_suffix() {
  return fmt::format("{:016x}", std::mt19937_64{std::random_device{}()}());
}

// How many jobs of SCHEMA are SUCCESS.
inline long successes(pqxx::connection& conn, const std::string& schema) {
  pqxx::work txn{conn};
  return txn
      .exec1("select count(*) from " + txn.quote_name(schema) + ".jobs where state = 'SUCCESS'")[0]
      .as<long>();
}

struct Percentiles {
  double p50 = 0, p95 = 0, p99 = 0, max = 0; // ms
};

// Nearest-rank percentiles of MS (all zero when empty).
inline Percentiles percentiles(std::vector<double> ms) {
  Percentiles p;
  if (ms.empty()) return p;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1))];
  };
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.max = ms.back();
  return p;
}

} // namespace celeriac::bench
