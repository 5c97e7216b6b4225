// The chaos driver (docs/chaos.md): runs the phases it is given against the
// private servers of scripts/services, prints one verdict line per phase, and
// exits 1 if any phase lost a job, a dead letter or a worker.
//
//   chaos [--phases kills,restarts,poison] [--jobs 20000] [--duration 60]
//         [--deadline 420] [--kill-interval 2-5] [--outage 3] [--poison-rounds 3]
#include <cstdlib>
#include <iostream>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <cxxopts.hpp>

#include "chaos_phase.hpp"

using namespace celeriac::chaos;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

ChaosOptions parse(int argc, char** argv) {
  cxxopts::Options spec("chaos", "celeriac's fault runs on the private servers (docs/chaos.md)");
  spec.add_options()("phases", "comma-separated: kills, restarts, poison",
                     cxxopts::value<std::string>()->default_value("kills,restarts,poison"))(
      "jobs", "jobs enqueued per phase", cxxopts::value<int>()->default_value("20000"))(
      "duration", "seconds over which each phase enqueues",
      cxxopts::value<double>()->default_value("60"))(
      "deadline", "seconds a phase may take in all",
      cxxopts::value<double>()->default_value("420"))(
      "kill-interval", "seconds between SIGKILLs, MIN-MAX",
      cxxopts::value<std::string>()->default_value("2-5"))(
      "outage", "seconds a stopped server stays down",
      cxxopts::value<double>()->default_value("3"))("poison-rounds",
                                                    "each kind of poison message this many times",
                                                    cxxopts::value<int>()->default_value("3"))(
      "workers", "celeriac worker processes", cxxopts::value<int>()->default_value("2"))(
      "concurrency", "each worker's pool size", cxxopts::value<int>()->default_value("2"))(
      "seed", "the killer's random seed (0: random)",
      cxxopts::value<unsigned>()->default_value("0"))("keep", "keep the schemas, queues and logs")(
      "celeriac", "the celeriac binary",
      cxxopts::value<std::string>()->default_value(CELERIAC_CLI_BINARY))(
      "services", "scripts/services",
      cxxopts::value<std::string>()->default_value(CELERIAC_SOURCE_DIR "/scripts/services"))(
      "h,help", "this help");
  const auto parsed = spec.parse(argc, argv);
  if (parsed.count("help")) {
    std::cout << spec.help() << std::endl;
    std::exit(0);
  }
  ChaosOptions o;
  o.phases = split(parsed["phases"].as<std::string>(), ',');
  for (const auto& p : o.phases)
    if (p != "kills" && p != "restarts" && p != "poison")
      throw std::invalid_argument("--phases: unknown phase '" + p + "'");
  o.jobs = parsed["jobs"].as<int>();
  o.duration = Seconds(parsed["duration"].as<double>());
  o.deadline = Seconds(parsed["deadline"].as<double>());
  const auto interval = split(parsed["kill-interval"].as<std::string>(), '-');
  if (interval.size() != 2) throw std::invalid_argument("--kill-interval: give MIN-MAX, e.g. 2-5");
  o.kill_min = Seconds(std::stod(interval[0]));
  o.kill_max = Seconds(std::stod(interval[1]));
  if (o.kill_min.count() <= 0 || o.kill_max < o.kill_min)
    throw std::invalid_argument("--kill-interval: need 0 < MIN <= MAX");
  o.outage = Seconds(parsed["outage"].as<double>());
  o.poison_rounds = parsed["poison-rounds"].as<int>();
  o.workers = parsed["workers"].as<int>();
  o.concurrency = parsed["concurrency"].as<int>();
  o.seed = parsed["seed"].as<unsigned>();
  if (o.seed == 0) o.seed = std::random_device{}();
  o.keep = parsed.count("keep") > 0;
  o.celeriac = parsed["celeriac"].as<std::string>();
  o.services = parsed["services"].as<std::string>();
  o.broker_url = env_or("CELERIAC_BROKER_URL", "");
  o.database_url = env_or("CELERIAC_DATABASE_URL", "");
  o.management_url = env_or("CELERIAC_MANAGEMENT_URL", "");
  if (o.broker_url.empty() || o.database_url.empty())
    throw std::invalid_argument(
        "CELERIAC_BROKER_URL and CELERIAC_DATABASE_URL must be set: "
        "eval \"$(scripts/services env)\"");
  if (o.jobs < 1 || o.workers < 1 || o.concurrency < 1)
    throw std::invalid_argument("--jobs, --workers and --concurrency must be at least 1");
  return o;
}

} // namespace

int main(int argc, char** argv) {
  ChaosOptions options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "chaos: " << e.what() << std::endl;
    return 2;
  }
  std::cout << fmt::format("chaos: phases {}, {} jobs each, kill every {}-{} s, seed {}",
                           fmt::join(options.phases, ","), options.jobs, options.kill_min.count(),
                           options.kill_max.count(), options.seed)
            << std::endl;
  spdlog::set_level(spdlog::level::warn); // the library's info lines (migrations) are noise here
  std::vector<PhaseVerdict> verdicts;
  for (const auto& phase : options.phases) {
    try {
      verdicts.push_back(run_phase(options, phase));
    } catch (const std::exception& e) {
      verdicts.push_back(
          PhaseVerdict{false, fmt::format("chaos {}: aborted: {} — FAIL", phase, e.what()), {}});
    }
    for (const auto& detail : verdicts.back().details)
      std::cout << "   " << detail << std::endl;
    std::cout << verdicts.back().line << std::endl;
  }
  bool pass = true;
  std::cout << "== chaos verdicts" << std::endl;
  for (const auto& v : verdicts) {
    std::cout << v.line << std::endl;
    pass = pass && v.pass;
  }
  return pass ? 0 : 1;
}
