// What every command shares: its invocation, the common flags (--config,
// --set, --help), loading the configuration, and the two errors a command
// throws besides the library's own (see cli.hpp for how they map to exit codes).
#pragma once

// cxxopts splits vector values on this character; no argument of ours may be
// split (a --set value holds commas), so use one that cannot appear in argv.
#define CXXOPTS_VECTOR_DELIMITER '\0'
#include <cxxopts.hpp>

#include <map>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "celeriac/core/config.hpp"

namespace celeriac::cli {

struct Invocation {
  std::string name;              // "enqueue", "inspect queues"
  std::vector<std::string> args; // what followed the name
  const std::map<std::string, std::string>& env;
  std::ostream& out;
  std::ostream& err;
};

// Bad usage (unknown flag, missing or extra argument): exit 2 with the usage line.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command ran and failed (a job not found, failed or not done in time): exit 1.
class CommandFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command's options with the common ones already added. POSITIONAL names
// its arguments for the usage line ("TASK", "ID"), "" when it takes none.
cxxopts::Options command_options(const Invocation& invocation, const std::string& summary,
                                 const std::string& positional);

// The usage line of INVOCATION's command, for usage errors.
std::string usage_line(const Invocation& invocation);

struct ParsedCommand {
  cxxopts::ParseResult options;
  std::vector<std::string> positional; // exactly as many as the command asked for
};

// Parses the invocation's arguments: nullopt when --help was given (the help
// is printed). POSITIONAL_NAMES are the required positional arguments, in
// order; a missing or extra one is a UsageError.
std::optional<ParsedCommand> parse_command(cxxopts::Options& options, const Invocation& invocation,
                                           const std::vector<std::string>& positional_names);

// The effective configuration: the file (--config, else $CELERIAC_CONFIG, else
// ./celeriac.toml when it exists, else none), then CELERIAC_* variables, then
// each --set KEY=VALUE. A file named explicitly that cannot be read is
// InvalidInput; a bad value is ConfigError.
Config load_config(const ParsedCommand& parsed, const Invocation& invocation);

// The configuration file a command reads: --config, else $CELERIAC_CONFIG,
// else ./celeriac.toml (whose absence is no error: TEXT is then empty).
struct ConfigFile {
  std::string path;
  std::optional<std::string> text;
};
ConfigFile find_config_file(const ParsedCommand& parsed, const Invocation& invocation);
// load_config over a file already read, for a caller that needs its text too.
Config load_config(const ConfigFile& file, const ParsedCommand& parsed,
                   const Invocation& invocation);

// The value of string option NAME, nullopt when not given.
std::optional<std::string> string_option(const ParsedCommand& parsed, const std::string& name);
bool flag_option(const ParsedCommand& parsed, const std::string& name);

} // namespace celeriac::cli
