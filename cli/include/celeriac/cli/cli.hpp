// The `celeriac` command line: argument parsing and wiring only (DESIGN.md).
// Every command is documented in docs/cli.md.
//
// run_cli() is the whole program minus the process: it takes the arguments
// (without the program name), the environment as a map and the two output
// streams, and returns the exit code. It never calls exit() and never reads
// the process environment itself, so tests can drive it in-process.
//
// Exit codes: kExitOk (0) success; kExitFailure (1) the command ran and
// failed: a server unreachable, a job not found, failed or not finished in
// time; kExitUsage (2) bad usage or input: an unknown command or flag, a
// missing argument, malformed JSON, a bad configuration. On 2 nothing has been
// sent to the broker or the database.
//
// Output: results go to OUT (stable JSON with --json where a command has it),
// errors to ERR as one line "celeriac <command>: <what>: <why>"; usage errors
// add a second line with the command's usage.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace celeriac::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int run_cli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            std::ostream& out, std::ostream& err);

} // namespace celeriac::cli
