#include "command.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "celeriac/core/error.hpp"

namespace celeriac::cli {
namespace {

constexpr const char* kPositional = "positional";

// cxxopts quotes names with typographic quotes; error lines stay ASCII.
std::string ascii_quotes(std::string text) {
  for (const char* quote : {"\xE2\x80\x98", "\xE2\x80\x99"}) {
    for (auto at = text.find(quote); at != std::string::npos; at = text.find(quote, at)) {
      text.replace(at, std::strlen(quote), "'");
    }
  }
  return text;
}

std::optional<std::string> read_file(const std::string& path, bool must_exist) {
  std::error_code ec;
  if (!must_exist && !std::filesystem::exists(path, ec)) return std::nullopt;
  if (std::filesystem::is_directory(path, ec)) {
    throw InvalidInput("config", fmt::format("'{}' is a directory, not a file", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InvalidInput("config", fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void apply_overrides(Config& config, const std::vector<std::string>& assignments) {
  for (const auto& assignment : assignments) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw InvalidInput("--set", fmt::format("expected KEY=VALUE, got '{}'", assignment));
    }
    apply_override(config, std::string_view(assignment).substr(0, eq),
                   std::string_view(assignment).substr(eq + 1));
  }
}

} // namespace

cxxopts::Options command_options(const Invocation& invocation, const std::string& summary,
                                 const std::string& positional) {
  cxxopts::Options options("celeriac " + invocation.name, summary);
  options.custom_help(positional.empty() ? "[OPTIONS]" : positional + " [OPTIONS]");
  options.positional_help("");
  auto common = options.add_options("common");
  common("config", "configuration file (else $CELERIAC_CONFIG, else ./celeriac.toml)",
         cxxopts::value<std::string>(), "PATH");
  common("set", "override one configuration key, e.g. --set broker.heartbeat=10s (repeatable)",
         cxxopts::value<std::vector<std::string>>(), "KEY=VALUE");
  common("h,help", "show this help and exit");
  options.add_options("hidden")(kPositional, "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({kPositional});
  return options;
}

std::optional<ParsedCommand> parse_command(cxxopts::Options& options, const Invocation& invocation,
                                           const std::vector<std::string>& positional_names) {
  std::vector<const char*> argv{invocation.name.c_str()};
  for (const auto& arg : invocation.args)
    argv.push_back(arg.c_str());
  std::optional<cxxopts::ParseResult> result;
  try {
    result = options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(ascii_quotes(e.what()));
  }
  if (result->count("help") != 0) {
    invocation.out << options.help({"", "common"});
    return std::nullopt;
  }
  ParsedCommand parsed{std::move(*result), {}};
  if (parsed.options.count(kPositional) != 0) {
    parsed.positional = parsed.options[kPositional].as<std::vector<std::string>>();
  }
  if (parsed.positional.size() < positional_names.size()) {
    throw UsageError(fmt::format("missing {}", positional_names[parsed.positional.size()]));
  }
  if (parsed.positional.size() > positional_names.size()) {
    throw UsageError(
        fmt::format("unexpected argument '{}'", parsed.positional[positional_names.size()]));
  }
  return parsed;
}

ConfigFile find_config_file(const ParsedCommand& parsed, const Invocation& invocation) {
  std::optional<std::string> path = string_option(parsed, "config");
  bool named = path.has_value();
  if (!path) {
    const auto it = invocation.env.find("CELERIAC_CONFIG");
    if (it != invocation.env.end() && !it->second.empty()) {
      path = it->second;
      named = true;
    }
  }
  if (!path) path = "celeriac.toml";
  // Without a file anywhere, the defaults and the environment still make a
  // working configuration (CELERIAC_BROKER_URL and friends).
  std::optional<std::string> text = read_file(*path, named);
  return {std::move(*path), std::move(text)};
}

Config load_config(const ConfigFile& file, const ParsedCommand& parsed,
                   const Invocation& invocation) {
  Config config = file.text ? parse_config(*file.text, file.path) : Config{};
  apply_environment(config, invocation.env);
  if (parsed.options.count("set") != 0) {
    apply_overrides(config, parsed.options["set"].as<std::vector<std::string>>());
  }
  return config;
}

Config load_config(const ParsedCommand& parsed, const Invocation& invocation) {
  return load_config(find_config_file(parsed, invocation), parsed, invocation);
}

std::optional<std::string> string_option(const ParsedCommand& parsed, const std::string& name) {
  if (parsed.options.count(name) == 0) return std::nullopt;
  return parsed.options[name].as<std::string>();
}

bool flag_option(const ParsedCommand& parsed, const std::string& name) {
  return parsed.options.count(name) != 0 && parsed.options[name].as<bool>();
}

} // namespace celeriac::cli
