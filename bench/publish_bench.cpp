// publish_bench: how fast celeriac's broker::Publisher publishes with
// confirms, next to a bare rabbitmq-c publisher doing the same work in the
// same run.
//
//   publish_bench [--messages N] [--window W] [--size BYTES] [--rounds R]
//
// It connects to $CELERIAC_BROKER_URL, declares a durable classic queue of its
// own (x-max-priority 9) and runs, R times, side A (bare rabbitmq-c, see
// bare_amqp.cpp) then side B (broker::Publisher on a libuv loop, see
// celeriac_side.cpp), so machine noise hits both. Each run publishes N
// persistent messages (priority i % 10, application/json, BYTES of body) with
// at most W unconfirmed, each on a fresh connection; the clock runs from the
// first publish to the last confirmation. The queue is purged after each run
// (the purge count must equal N) and deleted at the end. It prints each run's
// rate and a markdown table of medians. Timing never fails it: it exits 1 only
// when a message was nacked, returned or failed, or a count does not match.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "bare_amqp.hpp"
#include "celeriac_side.hpp"

namespace celeriac::bench {
namespace {

struct Options {
  RunSpec spec;
  int rounds = 3;
  std::string command; // as typed, for the report
};

// The program's usage error: printed with the usage, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: publish_bench [--messages N] [--window W] [--size BYTES] [--rounds R]\n"
    "  defaults: --messages 100000 --window 1000 --size 300 --rounds 3\n"
    "  the broker is $CELERIAC_BROKER_URL (`eval \"$(scripts/services env)\"`)\n";

template <typename Number>
Number parse_number(const std::string& flag, const std::string& text, Number min) {
  Number value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min) {
    throw UsageError(
        fmt::format("{} wants a whole number of at least {}, not '{}'", flag, min, text));
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv, argv + argc);
  o.command = fmt::format("{}", fmt::join(args, " "));
  for (std::size_t i = 1; i < args.size(); i += 2) {
    const std::string& flag = args[i];
    if (flag == "--help" || flag == "-h") throw UsageError("");
    if (i + 1 == args.size()) throw UsageError(fmt::format("{} wants a value", flag));
    const std::string& value = args[i + 1];
    if (flag == "--messages") {
      o.spec.messages = parse_number<std::uint64_t>(flag, value, 1);
    } else if (flag == "--window") {
      o.spec.window = parse_number<std::size_t>(flag, value, 1);
    } else if (flag == "--size") {
      o.spec.size = parse_number<std::size_t>(flag, value, 0);
    } else if (flag == "--rounds") {
      o.rounds = parse_number<int>(flag, value, 1);
    } else {
      throw UsageError(fmt::format("unknown option '{}'", flag));
    }
  }
  return o;
}

std::string broker_url() {
  const char* url = std::getenv("CELERIAC_BROKER_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "CELERIAC_BROKER_URL is not set: start the private broker with `scripts/services up` "
        "and export its address with `eval \"$(scripts/services env)\"`");
  }
  return url;
}

std::string unique_queue_name() {
  std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("celeriac.bench.publish.{:016x}", rng());
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

struct Side {
  const char* name;
  RunResult (*run)(const RunSpec&);
  std::vector<double> rates = {};
  std::vector<double> cpu_us = {}; // client CPU per message
};

// Runs SIDE once and empties the queue, whose count must be the run's; false
// when the run was not clean.
bool run_once(Side& side, int round, const Options& o, BareConnection& admin) {
  RunResult r = side.run(o.spec);
  std::uint32_t in_queue = 0;
  try {
    in_queue = purge_queue(admin, o.spec.queue);
  } catch (const std::exception& e) {
    r.problem += (r.problem.empty() ? "" : "; ") + std::string(e.what());
  }
  fmt::print("round {}/{}  {:<22} {:>8} msgs in {:7.3f} s  {:>7.0f} msgs/s  {:5.1f} us CPU/msg\n",
             round, o.rounds, side.name, r.confirmed, r.elapsed.count(), r.rate(),
             r.cpu_us_per_message());
  std::fflush(stdout);
  if (r.clean(o.spec.messages) && in_queue == o.spec.messages) {
    side.rates.push_back(r.rate());
    side.cpu_us.push_back(r.cpu_us_per_message());
    return true;
  }
  fmt::print(stderr,
             "publish_bench: {} was not clean: {} confirmed, {} nacked, {} returned, {} failed, "
             "{} in the queue, of {}{}{}\n",
             side.name, r.confirmed, r.nacked, r.returned, r.failed, in_queue, o.spec.messages,
             r.problem.empty() ? "" : "; ", r.problem);
  return false;
}

void print_table(const std::vector<Side>& sides, const Options& o) {
  const double baseline = median(sides[0].rates);
  fmt::print(
      "\n| side | median msgs/s | best msgs/s | median / A | client CPU us/msg (median) |\n");
  fmt::print("| --- | ---: | ---: | ---: | ---: |\n");
  for (const Side& side : sides) {
    const double mid = median(side.rates);
    fmt::print("| {} | {:.0f} | {:.0f} | {:.2f} | {:.1f} |\n", side.name, mid,
               *std::max_element(side.rates.begin(), side.rates.end()), mid / baseline,
               median(side.cpu_us));
  }
  fmt::print("\nratio B/A (median): {:.2f}\n", median(sides[1].rates) / baseline);
  fmt::print("command: {}\n", o.command);
}

// Every round runs A then B; returns the exit status.
int run_rounds(const Options& o, BareConnection& admin) {
  std::vector<Side> sides{{"A bare rabbitmq-c", &run_bare_publisher},
                          {"B celeriac Publisher", &run_celeriac_publisher}};
  for (int round = 1; round <= o.rounds; ++round) {
    for (Side& side : sides) {
      if (!run_once(side, round, o, admin)) return 1;
    }
  }
  print_table(sides, o);
  return 0;
}

// Deletes the queue on a connection of its own: whatever ended the rounds may
// have closed the administration channel.
bool remove_queue(const Options& o) {
  try {
    BareConnection connection(o.spec.url, std::chrono::seconds(0));
    delete_queue(connection, o.spec.queue);
    return true;
  } catch (const std::exception& e) {
    fmt::print(stderr, "publish_bench: could not delete queue {}: {}\n", o.spec.queue, e.what());
    return false;
  }
}

int run(const Options& o) {
  int status = 1;
  try {
    BareConnection admin(o.spec.url, std::chrono::seconds(0));
    declare_queue(admin, o.spec.queue);
    fmt::print("publish_bench: {} messages, window {}, body {} bytes, {} rounds, queue {}\n",
               o.spec.messages, o.spec.window, o.spec.size, o.rounds, o.spec.queue);
    std::fflush(stdout);
    status = run_rounds(o, admin);
  } catch (const std::exception& e) {
    fmt::print(stderr, "publish_bench: {}\n", e.what());
  }
  return remove_queue(o) ? status : 1;
}

} // namespace
} // namespace celeriac::bench

int main(int argc, char** argv) {
  using namespace celeriac::bench;
  try {
    Options options = parse_options(argc, argv);
    options.spec.url = broker_url();
    options.spec.queue = unique_queue_name();
    return run(options);
  } catch (const UsageError& e) {
    if (*e.what() != '\0') fmt::print(stderr, "publish_bench: {}\n", e.what());
    fmt::print(stderr, "{}", kUsage);
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "publish_bench: {}\n", e.what());
    return 1;
  }
}
