// external_command_task: the job as JSON in, the command's exit status and
// output turned into a task outcome (external_task.hpp has the contract).
#include "celeriac/worker/external_task.hpp"

#include <unistd.h>

#include <cstring>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "celeriac/core/utf8.hpp"
#include "command_process.hpp"

extern char** environ; // NOLINT: POSIX declares it nowhere

namespace celeriac {
namespace {

using nlohmann::json;

// Text from the command, made fit for a JSON message: a tail cut inside a
// UTF-8 sequence loses the broken start; other invalid bytes become '?'.
std::string printable(std::string text) {
  std::size_t start = 0;
  while (start < text.size() && start < 3 &&
         (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
    ++start;
  text.erase(0, start);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  if (is_valid_utf8(text)) return text;
  for (char& c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) c = '?';
  }
  return text;
}

json optional_seconds(const std::optional<Duration>& d) {
  if (!d) return nullptr;
  return std::chrono::duration<double>(*d).count();
}

template <typename T>
json optional_text(const std::optional<T>& value) {
  if (!value) return nullptr;
  if constexpr (std::is_same_v<T, std::string>)
    return *value;
  else
    return value->str();
}

bool is_executable_file(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

// PROGRAM itself when it has a '/', else the first match in PATH.
std::string resolve_program(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path_variable = std::getenv("PATH"); // NOLINT: read-only, before any fork
  const std::string_view path =
      path_variable != nullptr ? path_variable : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  while (begin <= path.size()) {
    const std::size_t end = std::min(path.find(':', begin), path.size());
    const std::string_view dir = path.substr(begin, end - begin);
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, program);
    if (is_executable_file(candidate)) return candidate;
    begin = end + 1;
  }
  throw TaskFailure(ErrorKind::Validation,
                    fmt::format("cannot run command '{}': not found in PATH ({})", program, path));
}

// The worker's environment with ENV set on top.
std::vector<std::string> environment(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!env.contains(std::string(text.substr(0, text.find('='))))) out.emplace_back(text);
  }
  for (const auto& [name, value] : env)
    out.push_back(name + "=" + value);
  return out;
}

std::string describe_end(const worker::detail::CommandRun& run) {
  if (run.exited) return fmt::format("exited with status {}", run.exit_status);
  return fmt::format("was killed by signal {} ({})", run.signal, ::strsignal(run.signal));
}

std::string with_stderr(std::string message, const std::string& error_tail) {
  const std::string tail = printable(error_tail);
  if (tail.empty()) return message + " (stderr was empty)";
  return message + ": " + tail;
}

json parse_result(const std::string& program, const std::string& output) {
  if (output.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
  try {
    return json::parse(output);
  } catch (const json::parse_error& e) {
    throw TaskFailure(ErrorKind::Validation,
                      printable(fmt::format("command '{}' exited 0 but its stdout is not JSON "
                                            "({}); it began with: {}",
                                            program, e.what(), output.substr(0, 200))));
  }
}

[[noreturn]] void throw_retry(const worker::detail::CommandRun& run) {
  std::optional<Duration> after;
  try {
    const json out = json::parse(run.output);
    if (out.is_object() && out.contains("retry_after") && out["retry_after"].is_number() &&
        out["retry_after"].get<double>() >= 0) {
      after = std::chrono::duration_cast<Duration>(
          std::chrono::duration<double>(out["retry_after"].get<double>()));
    }
  } catch (const json::exception&) {
    // no hint: the policy's backoff
  }
  const std::string tail = printable(run.error_tail);
  throw Retry{after, tail.empty() ? "the command asked to be retried (exit 75)" : tail};
}

json interpret(const std::string& program, std::uint64_t max_output,
               const worker::detail::CommandRun& run) {
  if (run.spawn_errno != 0) {
    throw TaskFailure(ErrorKind::Validation, fmt::format("cannot run command '{}': {}", program,
                                                         std::strerror(run.spawn_errno)));
  }
  if (run.output_too_large) {
    throw TaskFailure(ErrorKind::Validation,
                      fmt::format("command '{}' wrote more than {} bytes to stdout (the limit is "
                                  "broker.max_body_bytes); it was killed",
                                  program, max_output));
  }
  if (run.deadline_passed) {
    throw TaskFailure(ErrorKind::Timeout,
                      fmt::format("hard time limit exceeded: command '{}' was killed", program));
  }
  if (run.exited && run.exit_status == 0) return parse_result(program, run.output);
  if (run.exited && run.exit_status == kExternalRetryExit) throw_retry(run);
  if (run.terminated) throw SoftTimeLimitExceeded();
  throw TaskFailure(
      ErrorKind::Unclassified,
      with_stderr(fmt::format("command '{}' {}", program, describe_end(run)), run.error_tail));
}

std::optional<std::chrono::steady_clock::time_point> deadline(
    const Job& job, const std::optional<Duration>& task_default) {
  const auto limit = job.hard_time_limit ? job.hard_time_limit : task_default;
  if (!limit) return std::nullopt;
  return std::chrono::steady_clock::now() + *limit;
}

json run_external(const ExternalCommand& command, TaskContext& ctx) {
  worker::detail::CommandSpec spec;
  spec.program = resolve_program(command.command.front());
  spec.argv = command.command;
  spec.envp = environment(command.env);
  spec.input =
      external_command_input(ctx.job()).dump(-1, ' ', false, json::error_handler_t::replace);
  spec.max_output = static_cast<std::size_t>(command.max_output_bytes);
  spec.deadline = deadline(ctx.job(), command.hard_time_limit);
  spec.cancelled = [&ctx] { return ctx.cancelled(); };
  try {
    return interpret(spec.program, command.max_output_bytes, worker::detail::run_command(spec));
  } catch (const std::system_error& e) {
    // Out of fds or processes on this machine: worth another try later.
    throw Retry{std::nullopt, fmt::format("cannot start command '{}': {}", spec.program, e.what())};
  }
}

} // namespace

json external_command_input(const Job& job) {
  return {{"args", job.args},
          {"kwargs", job.kwargs},
          {"job",
           {{"id", job.id.str()},
            {"task", job.task},
            {"retries", job.retries},
            {"queue", job.queue},
            {"priority", job.priority},
            {"eta", job.eta ? json(format_iso8601(*job.eta)) : json(nullptr)},
            {"expires", job.expires ? json(format_iso8601(*job.expires)) : json(nullptr)},
            {"soft_time_limit", optional_seconds(job.soft_time_limit)},
            {"hard_time_limit", optional_seconds(job.hard_time_limit)},
            {"parent_id", optional_text(job.parent_id)},
            {"root_id", optional_text(job.root_id)},
            {"group", optional_text(job.group)},
            {"origin", optional_text(job.origin)}}}};
}

TaskFunction external_command_task(ExternalCommand command) {
  if (command.command.empty() || command.command.front().empty()) {
    throw InvalidInput("command", "must name the program to run");
  }
  return [command = std::move(command)](TaskContext& ctx) { return run_external(command, ctx); };
}

} // namespace celeriac
