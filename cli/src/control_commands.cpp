// control ping | shutdown | rate_limit: commands broadcast to the workers on
// the celeriac.control exchange (core/control.hpp), with their answers.
#include <fmt/format.h>

#include <sstream>

#include "celeriac/client.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/rate_limit.hpp"
#include "commands.hpp"

namespace celeriac::cli {
namespace {

void add_control_options(cxxopts::Options& options) {
  auto add = options.add_options();
  add("destination", "only these workers (host:pid, comma-separated; default: every worker)",
      cxxopts::value<std::string>(), "NAMES");
  add("timeout", "how long to collect answers (default 1s)", cxxopts::value<std::string>(),
      "DURATION");
  add("json", "print the answers as JSON");
}

ControlOptions control_options(const ParsedCommand& parsed) {
  ControlOptions options;
  if (const auto names = string_option(parsed, "destination")) {
    std::istringstream in(*names);
    for (std::string name; std::getline(in, name, ',');) {
      if (!name.empty()) options.destination.push_back(name);
    }
    if (options.destination.empty()) throw InvalidInput("--destination", "names no worker");
  }
  if (const auto text = string_option(parsed, "timeout")) {
    const auto timeout = parse_duration(*text);
    if (!timeout) throw InvalidInput("--timeout", fmt::format("not a duration: '{}'", *text));
    options.reply_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*timeout);
  }
  return options;
}

// Prints the answers; returns kExitOk when some worker answered and none refused.
int report(const Invocation& invocation, const ParsedCommand& parsed,
           const std::vector<ControlReply>& answers, const ControlOptions& options) {
  if (flag_option(parsed, "json")) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& a : answers)
      out.push_back({{"worker", a.worker}, {"reply", a.reply}});
    invocation.out << out.dump() << "\n";
  } else {
    for (const auto& a : answers) {
      const auto ok = a.reply.find("ok");
      const bool fine = ok != a.reply.end() && ok->is_string();
      invocation.out << fmt::format("{}: {}\n", a.worker,
                                    fine ? ok->get<std::string>() : "error: " + a.reply.dump());
    }
  }
  if (answers.empty()) {
    invocation.err << fmt::format("no worker answered within {}\n",
                                  format_duration(options.reply_timeout));
    return kExitFailure;
  }
  const bool refused = std::any_of(answers.begin(), answers.end(),
                                   [](const ControlReply& a) { return !a.reply.contains("ok"); });
  return refused ? kExitFailure : kExitOk;
}

int broadcast(const Invocation& invocation, const ParsedCommand& parsed, const std::string& method,
              nlohmann::json arguments) {
  const ControlOptions options = control_options(parsed);
  const Config config = load_config(parsed, invocation);
  ClientOptions client_options;
  client_options.connection_name = "celeriac-cli";
  Client client(config, client_options);
  const auto answers = client.control(method, std::move(arguments), options);
  return report(invocation, parsed, answers, options);
}

} // namespace

int run_control_ping(const Invocation& invocation) {
  auto options = command_options(invocation, "Ask the workers to answer, and list who did", "");
  add_control_options(options);
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  return broadcast(invocation, *parsed, "ping", nlohmann::json::object());
}

int run_control_shutdown(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Ask the workers for a warm shutdown (as SIGTERM): running jobs finish", "");
  add_control_options(options);
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  return broadcast(invocation, *parsed, "shutdown", nlohmann::json::object());
}

int run_control_rate_limit(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Set a task's rate limit on the workers (per worker; 0 lifts it)", "TASK RATE");
  add_control_options(options);
  const auto parsed = parse_command(options, invocation, {"TASK", "RATE"});
  if (!parsed) return kExitOk;
  const std::string& rate = parsed->positional[1];
  if (rate != "0" && !parse_rate_limit(rate))
    throw InvalidInput("RATE", fmt::format("'{}' is not a rate such as 10/s, 100/m or 1000/h "
                                           "(0 lifts the limit)",
                                           rate));
  return broadcast(invocation, *parsed, "rate_limit",
                   {{"task_name", parsed->positional[0]}, {"rate_limit", rate}});
}

} // namespace celeriac::cli
