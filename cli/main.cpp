// The `celeriac` executable: hands argv and the environment to run_cli().
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "celeriac/cli/cli.hpp"
#include "celeriac/core/config.hpp"

int main(int argc, char** argv) {
  // Library logs (reconnects, warnings) go to stderr, so stdout carries only
  // the command's output (ids, JSON) for scripts to read.
  spdlog::set_default_logger(spdlog::stderr_logger_st("celeriac"));
  spdlog::set_level(spdlog::level::warn);
  const std::vector<std::string> args(argv + 1, argv + argc);
  return celeriac::cli::run_cli(args, celeriac::process_environment(), std::cout, std::cerr);
}
