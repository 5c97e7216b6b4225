#include "celeriac/cli/cli.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "celeriac/core/error.hpp"
#include "commands.hpp"

namespace celeriac::cli {
namespace {

struct CommandEntry {
  std::string_view name;
  std::string_view arguments; // for the usage line
  std::string_view summary;
  int (*run)(const Invocation&);
};

constexpr std::array kCommands{
    CommandEntry{"enqueue", "TASK", "publish a job and print its id", run_enqueue},
    CommandEntry{"result", "ID", "print a finished job's result", run_result},
    CommandEntry{"status", "ID", "print a job's state and timestamps", run_status},
    CommandEntry{"revoke", "ID", "revoke a job so that no worker runs it", run_revoke},
    CommandEntry{"inspect queues", "", "depth, consumers and rates of each configured queue",
                 run_inspect_queues},
    CommandEntry{"inspect workers", "", "the workers that reported to the database",
                 run_inspect_workers},
    CommandEntry{"purge", "QUEUE", "delete every ready message of a queue (needs --yes)",
                 run_purge},
    CommandEntry{"worker", "", "run jobs from the queues (a daemon)", run_worker},
    CommandEntry{"scheduler", "", "fire the periodic jobs (a daemon; replicas elect a leader)",
                 run_scheduler},
    CommandEntry{"schedules list", "", "the schedules with their last and next fires",
                 run_schedules_list},
    CommandEntry{"schedules run", "NAME", "fire a schedule now (a manual fire)", run_schedules_run},
    CommandEntry{"control ping", "", "list the workers that answer", run_control_ping},
    CommandEntry{"control shutdown", "", "ask the workers for a warm shutdown",
                 run_control_shutdown},
    CommandEntry{"control rate_limit", "TASK RATE", "set a task's rate limit on the workers",
                 run_control_rate_limit},
    CommandEntry{"migrate", "", "create or upgrade the database schema", run_migrate},
    CommandEntry{"config check", "", "validate the configuration and print it, secrets masked",
                 run_config_check},
};

const CommandEntry* find_command(std::string_view name) {
  const auto it = std::find_if(kCommands.begin(), kCommands.end(),
                               [&](const CommandEntry& c) { return c.name == name; });
  return it == kCommands.end() ? nullptr : &*it;
}

// "inspect" for "inspect queues"; the name itself for single-word commands.
bool is_group(std::string_view word) {
  return std::any_of(kCommands.begin(), kCommands.end(), [&](const CommandEntry& c) {
    return c.name.size() > word.size() && c.name.starts_with(word) && c.name[word.size()] == ' ';
  });
}

void print_overview(std::ostream& out, std::string_view group = {}) {
  out << "usage: celeriac COMMAND [ARGS] [OPTIONS]\n\ncommands:\n";
  for (const auto& c : kCommands) {
    if (!group.empty() && !c.name.starts_with(group)) continue;
    const std::string call = fmt::format("{} {}", c.name, c.arguments);
    out << fmt::format("  {:<22} {}\n", call, c.summary);
  }
  out << "\nEvery command takes --config PATH, --set KEY=VALUE and --help.\n"
         "Exit codes: 0 ok, 1 failure, 2 bad usage or input. See docs/cli.md.\n";
}

// Error text on one line: libraries' messages may carry newlines.
std::string one_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.pop_back();
  for (auto at = text.find('\n'); at != std::string::npos; at = text.find('\n', at)) {
    text.replace(at, 1, "; ");
  }
  return text;
}

int run_guarded(const CommandEntry& command, const Invocation& invocation) {
  const auto fail = [&](const std::exception& e, int code) {
    invocation.err << "celeriac " << invocation.name << ": " << one_line(e.what()) << "\n";
    return code;
  };
  try {
    return command.run(invocation);
  } catch (const UsageError& e) {
    fail(e, kExitUsage);
    invocation.err << usage_line(invocation) << "\n";
    return kExitUsage;
  } catch (const InvalidInput& e) {
    return fail(e, kExitUsage);
  } catch (const std::exception& e) {
    // CommandFailed, InfrastructureError, and whatever a library threw.
    return fail(e, kExitFailure);
  }
}

int unknown_command(std::ostream& err, std::string_view what) {
  err << "celeriac: " << what << "\n"
      << "usage: celeriac COMMAND [ARGS] [OPTIONS] (celeriac --help lists the commands)\n";
  return kExitUsage;
}

int missing_subcommand(std::ostream& err, std::string_view group) {
  std::string choices;
  for (const auto& c : kCommands) {
    if (!c.name.starts_with(group) || c.name.size() <= group.size()) continue;
    choices += (choices.empty() ? "" : "|") + std::string(c.name.substr(group.size() + 1));
  }
  err << "celeriac " << group << ": missing subcommand\n"
      << fmt::format("usage: celeriac {} {} [OPTIONS] (celeriac {} --help lists them)\n", group,
                     choices, group);
  return kExitUsage;
}

} // namespace

std::string usage_line(const Invocation& invocation) {
  const CommandEntry* command = find_command(invocation.name);
  const std::string_view arguments = command != nullptr ? command->arguments : "";
  return fmt::format("usage: celeriac {}{}{} [OPTIONS] (celeriac {} --help for more)",
                     invocation.name, arguments.empty() ? "" : " ", arguments, invocation.name);
}

int run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            std::ostream& out, std::ostream& err) {
  if (args.empty()) return unknown_command(err, "no command given");
  const std::string& first = args[0];
  if (first == "-h" || first == "--help" || first == "help") {
    print_overview(out);
    return kExitOk;
  }
  if (first == "__pool-child") { // spawned by the worker's process pool
    return run_pool_child_mode(std::span<const std::string>(args).subspan(1));
  }
  if (first == "--version") {
    out << "celeriac " << CELERIAC_VERSION << "\n";
    return kExitOk;
  }
  std::size_t words = 1;
  if (is_group(first)) {
    if (args.size() < 2) return missing_subcommand(err, first);
    if (args[1] == "-h" || args[1] == "--help") {
      print_overview(out, first);
      return kExitOk;
    }
    words = 2;
  }
  const std::string name = words == 1 ? first : first + " " + args[1];
  const CommandEntry* command = find_command(name);
  if (command == nullptr) return unknown_command(err, fmt::format("unknown command '{}'", name));
  const Invocation invocation{
      name, {args.begin() + static_cast<std::ptrdiff_t>(words), args.end()}, env, out, err};
  return run_guarded(*command, invocation);
}

} // namespace celeriac::cli
