// enqueue TASK: every flag is read and the whole job validated (make_job, the
// same function the client uses) before the broker is contacted, so bad input
// exits 2 having published nothing, even when no server is running.
#include <fmt/format.h>

#include <charconv>

#include "celeriac/client.hpp"
#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"
#include "commands.hpp"
#include "job_output.hpp"

namespace celeriac::cli {
namespace {

constexpr auto kDefaultWait = std::chrono::seconds(60);

Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

nlohmann::json json_option(const ParsedCommand& parsed, const std::string& name,
                           nlohmann::json fallback) {
  const auto text = string_option(parsed, name);
  if (!text) return fallback;
  try {
    return nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at ...": keep the part after "] ".
    const std::string what = e.what();
    const auto at = what.find("] ");
    throw InvalidInput(
        "--" + name,
        fmt::format("malformed JSON: {}", at == std::string::npos ? what : what.substr(at + 2)));
  }
}

std::optional<int> int_option(const ParsedCommand& parsed, const std::string& name) {
  const auto text = string_option(parsed, name);
  if (!text) return std::nullopt;
  int value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    throw InvalidInput("--" + name, fmt::format("must be an integer, got '{}'", *text));
  }
  return value;
}

std::optional<Duration> duration_option(const ParsedCommand& parsed, const std::string& name) {
  const auto text = string_option(parsed, name);
  if (!text) return std::nullopt;
  const auto value = parse_duration(*text);
  if (!value) {
    throw InvalidInput(
        "--" + name,
        fmt::format("expected seconds or a duration like 30s, 5m, 1h30m; got '{}'", *text));
  }
  return value;
}

std::optional<Timestamp> time_option(const ParsedCommand& parsed, const std::string& name) {
  const auto text = string_option(parsed, name);
  if (!text) return std::nullopt;
  const auto value = parse_iso8601(*text);
  if (!value) {
    throw InvalidInput("--" + name, fmt::format("expected an ISO 8601 time like "
                                                "2026-03-01T12:00:00Z, got '{}'",
                                                *text));
  }
  return value;
}

// --expires takes either a duration from now or a point in time.
void read_expires(const ParsedCommand& parsed, EnqueueOptions& options) {
  const auto text = string_option(parsed, "expires");
  if (!text) return;
  if (auto in = parse_duration(*text)) {
    options.expires_in = in;
  } else if (auto at = parse_iso8601(*text)) {
    options.expires = at;
  } else {
    throw InvalidInput("--expires", fmt::format("expected a duration (10m) or an ISO 8601 time "
                                                "(2026-03-01T12:00:00Z), got '{}'",
                                                *text));
  }
}

void require_configured_queue(const Config& config, const std::string& queue) {
  if (config.queue(queue) != nullptr) return;
  std::string names;
  for (const auto& q : config.queues)
    names += (names.empty() ? "" : ", ") + q.name;
  throw InvalidInput("queue",
                     fmt::format("'{}' is not a configured queue (configured: {})", queue, names));
}

EnqueueOptions read_options(const ParsedCommand& parsed) {
  EnqueueOptions options;
  options.queue = string_option(parsed, "queue");
  options.priority = int_option(parsed, "priority");
  options.countdown = duration_option(parsed, "countdown");
  options.eta = time_option(parsed, "eta");
  read_expires(parsed, options);
  options.soft_time_limit = duration_option(parsed, "soft-time-limit");
  options.hard_time_limit = duration_option(parsed, "hard-time-limit");
  if (const auto id = string_option(parsed, "id")) options.id = parse_job_id(*id, "--id");
  return options;
}

// Builds the job as the client will, with a throwaway id, to reject bad
// input before any connection is made.
void validate(const Config& config, const EnqueueRequest& request) {
  const TaskConfig task = config.task(request.task);
  const JobDefaults defaults{task.queue, task.priority, task.soft_time_limit, task.hard_time_limit};
  const Job job = make_job(request.task, request.args, request.kwargs, request.options, defaults,
                           JobId::v4(JobId::Bytes{1}), now());
  require_configured_queue(config, job.queue);
}

cxxopts::Options enqueue_options(const Invocation& invocation) {
  auto options = command_options(invocation, "Publish a job for TASK and print its id", "TASK");
  const auto text = [] { return cxxopts::value<std::string>(); };
  auto add = options.add_options();
  add("args", "positional arguments, a JSON array (default [])", text(), "JSON");
  add("kwargs", "keyword arguments, a JSON object (default {})", text(), "JSON");
  add("queue", "queue to publish to (default: the task's, from the config)", text(), "Q");
  add("priority", "0 (lowest) to 9 (default: the task's)", text(), "N");
  add("countdown", "run no sooner than this from now: 30, 90s, 5m", text(), "S");
  add("eta", "run no sooner than this time: 2026-03-01T12:00:00Z", text(), "ISO");
  add("expires", "revoke if not started within this duration, or by this time", text(), "WHEN");
  add("soft-time-limit", "cancel the running job after this long", text(), "S");
  add("hard-time-limit", "kill the running job after this long", text(), "S");
  add("id", "the job id to use (makes a retried enqueue idempotent)", text(), "UUID");
  add("wait", "wait for the job to finish and print its result");
  add("timeout", "with --wait: give up after this long (default 60s)", text(), "S");
  add("json", "print {\"id\"} (with --wait also \"state\", \"result\", \"error\") as JSON");
  return options;
}

int wait_and_print(Client& client, JobId id, Duration timeout, bool json, std::ostream& out) {
  const store::JobRecord record = client.wait(id, timeout);
  const bool ok = record.state == JobState::Success;
  if (json) {
    const nlohmann::json full = record_json(record);
    out << nlohmann::json{{"id", id.str()},
                          {"state", full["state"]},
                          {"result", full["result"]},
                          {"error", full["error"]}}
               .dump()
        << "\n";
  } else if (ok) {
    out << (record.result ? record.result->dump() : "null") << "\n";
  }
  if (!ok) throw CommandFailed(failure_line(record));
  return kExitOk;
}

} // namespace

int run_enqueue(const Invocation& invocation) {
  auto options = enqueue_options(invocation);
  const auto parsed = parse_command(options, invocation, {"TASK"});
  if (!parsed) return kExitOk;
  const bool wait = flag_option(*parsed, "wait");
  const bool json = flag_option(*parsed, "json");
  const Duration timeout = duration_option(*parsed, "timeout").value_or(kDefaultWait);
  if (!wait && string_option(*parsed, "timeout")) {
    throw UsageError("--timeout needs --wait");
  }
  const Config config = load_config(*parsed, invocation);
  const EnqueueRequest request{
      parsed->positional[0], json_option(*parsed, "args", nlohmann::json::array()),
      json_option(*parsed, "kwargs", nlohmann::json::object()), read_options(*parsed)};
  validate(config, request);

  ClientOptions client_options;
  client_options.connection_name = "celeriac-cli";
  Client client(config, client_options);
  const JobId id = client.enqueue(request.task, request.args, request.kwargs, request.options);
  if (!json) invocation.out << id.str() << std::endl; // before a wait: the id is known at once
  if (wait) return wait_and_print(client, id, timeout, json, invocation.out);
  if (json) invocation.out << nlohmann::json{{"id", id.str()}}.dump() << "\n";
  return kExitOk;
}

} // namespace celeriac::cli
