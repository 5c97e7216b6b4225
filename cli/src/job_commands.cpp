// result, status and revoke: one job by id. result and status read the
// database only (they work while the broker is down); revoke goes through the
// client, which also tells the workers over the control exchange.
#include <fmt/format.h>

#include "celeriac/client.hpp"
#include "celeriac/store/job_waiter.hpp"
#include "commands.hpp"
#include "job_output.hpp"
#include "server_access.hpp"

namespace celeriac::cli {
namespace {

constexpr auto kDefaultWait = std::chrono::seconds(60);

store::JobRecord finished_record(const Config& config, JobId id, std::optional<Duration> wait) {
  if (wait) {
    store::JobWaiter waiter(config.database.url, config.database.schema);
    const auto deadline = std::chrono::steady_clock::now() + *wait;
    if (auto record = waiter.wait(id, deadline)) return *record;
    const auto& seen = waiter.last_seen();
    throw CommandFailed(fmt::format("job {} not finished after {} (state: {})", id.str(),
                                    format_duration(*wait),
                                    seen ? to_string(seen->state) : "not found"));
  }
  const auto conn = open_database(config);
  const auto record = store::find_job(*conn, config.database.schema, id);
  if (!record) throw CommandFailed(fmt::format("job {} not found", id.str()));
  if (!is_terminal(record->state)) {
    throw CommandFailed(fmt::format("job {} is {}: no result yet (--wait waits for it)", id.str(),
                                    to_string(record->state)));
  }
  return *record;
}

// Stable names for --json (store's to_string is prose).
std::string_view effect_name(store::RevokeEffect effect) {
  switch (effect) {
    case store::RevokeEffect::Revoked:
      return "revoked";
    case store::RevokeEffect::AlreadyFinished:
      return "already_finished";
    case store::RevokeEffect::NotTracked:
      return "not_tracked";
  }
  return "unknown";
}

std::string revoke_text(JobId id, const RevokeOutcome& outcome) {
  const std::string told = outcome.broadcast ? "workers told" : "workers NOT told (broker)";
  switch (outcome.effect) {
    case store::RevokeEffect::Revoked:
      return fmt::format("revoked job {} (was {}); {}", id.str(),
                         to_string(outcome.previous_state.value_or(JobState::Pending)), told);
    case store::RevokeEffect::AlreadyFinished:
      return fmt::format("job {} had already finished ({}): its state is kept; {}", id.str(),
                         to_string(outcome.previous_state.value_or(JobState::Success)), told);
    case store::RevokeEffect::NotTracked:
      break;
  }
  return fmt::format("revoked job {} (no record yet: workers will skip it); {}", id.str(), told);
}

} // namespace

int run_result(const Invocation& invocation) {
  auto options = command_options(invocation, "Print the result of job ID (a JSON value)", "ID");
  auto add = options.add_options();
  add("wait", "wait for the job to finish");
  add("timeout", "with --wait: give up after this long (default 60s)",
      cxxopts::value<std::string>(), "S");
  add("json", "print the whole record as JSON");
  const auto parsed = parse_command(options, invocation, {"ID"});
  if (!parsed) return kExitOk;
  const JobId id = parse_job_id(parsed->positional[0]);
  std::optional<Duration> wait;
  if (flag_option(*parsed, "wait")) {
    wait = kDefaultWait;
    if (const auto text = string_option(*parsed, "timeout")) {
      wait = parse_duration(*text);
      if (!wait) throw InvalidInput("--timeout", fmt::format("not a duration: '{}'", *text));
    }
  } else if (string_option(*parsed, "timeout")) {
    throw UsageError("--timeout needs --wait");
  }
  const Config config = load_config(*parsed, invocation);
  const store::JobRecord record = finished_record(config, id, wait);
  if (flag_option(*parsed, "json")) invocation.out << record_json(record).dump() << "\n";
  if (record.state != JobState::Success) throw CommandFailed(failure_line(record));
  if (!flag_option(*parsed, "json")) {
    invocation.out << (record.result ? record.result->dump() : "null") << "\n";
  }
  return kExitOk;
}

int run_status(const Invocation& invocation) {
  auto options = command_options(invocation, "Print the state and timestamps of job ID", "ID");
  options.add_options()("json", "print the whole record as JSON");
  const auto parsed = parse_command(options, invocation, {"ID"});
  if (!parsed) return kExitOk;
  const JobId id = parse_job_id(parsed->positional[0]);
  const Config config = load_config(*parsed, invocation);
  const auto conn = open_database(config);
  const auto record = store::find_job(*conn, config.database.schema, id);
  if (!record) throw CommandFailed(fmt::format("job {} not found", id.str()));
  if (flag_option(*parsed, "json")) {
    invocation.out << record_json(*record).dump() << "\n";
  } else {
    print_record(invocation.out, *record);
  }
  return kExitOk;
}

int run_revoke(const Invocation& invocation) {
  auto options = command_options(invocation, "Revoke job ID: no worker will start it", "ID");
  auto add = options.add_options();
  add("terminate", "also kill the job if a worker is running it");
  add("reason", "why, kept with the job (default \"revoked\")", cxxopts::value<std::string>(),
      "TEXT");
  add("json", "print the outcome as JSON");
  const auto parsed = parse_command(options, invocation, {"ID"});
  if (!parsed) return kExitOk;
  const JobId id = parse_job_id(parsed->positional[0]);
  const Config config = load_config(*parsed, invocation);
  RevokeOptions revoke;
  revoke.terminate = flag_option(*parsed, "terminate");
  revoke.reason = string_option(*parsed, "reason").value_or("revoked");
  ClientOptions client_options;
  client_options.connection_name = "celeriac-cli";
  Client client(config, client_options);
  const RevokeOutcome outcome = client.revoke(id, revoke);
  if (flag_option(*parsed, "json")) {
    invocation.out << nlohmann::json{{"id", id.str()},
                                     {"effect", effect_name(outcome.effect)},
                                     {"previous_state",
                                      outcome.previous_state
                                          ? nlohmann::json(to_string(*outcome.previous_state))
                                          : nlohmann::json(nullptr)},
                                     {"broadcast", outcome.broadcast}}
                          .dump()
                   << "\n";
  } else {
    invocation.out << revoke_text(id, outcome) << "\n";
  }
  return kExitOk;
}

} // namespace celeriac::cli
