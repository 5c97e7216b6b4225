// inspect workers: the rows workers keep in the workers table (hostname, pid,
// queues, counters, heartbeat), newest heartbeat first.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "celeriac/store/job_records.hpp"
#include "commands.hpp"
#include "server_access.hpp"
#include "text_table.hpp"

namespace celeriac::cli {
namespace {

std::string age(Timestamp then, Timestamp now) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  return seconds < 0 ? "0s" : format_duration(std::chrono::seconds(seconds));
}

void print_json(std::ostream& out, const std::vector<store::WorkerRecord>& workers, Timestamp now) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& w : workers) {
    rows.push_back({{"hostname", w.hostname},
                    {"pid", w.pid},
                    {"queues", w.queues},
                    {"concurrency", w.concurrency},
                    {"processed", w.processed},
                    {"failed", w.failed},
                    {"started_at", format_iso8601(w.started_at)},
                    {"last_heartbeat", format_iso8601(w.last_heartbeat)},
                    {"seconds_since_heartbeat",
                     std::chrono::duration<double>(now - w.last_heartbeat).count()}});
  }
  out << nlohmann::json{{"workers", rows}}.dump() << "\n";
}

void print_table(std::ostream& out, const std::vector<store::WorkerRecord>& workers,
                 Timestamp now) {
  if (workers.empty()) {
    out << "no worker has reported yet\n";
    return;
  }
  TextTable table({{"HOSTNAME"},
                   {"PID", true},
                   {"QUEUES"},
                   {"CONCURRENCY", true},
                   {"PROCESSED", true},
                   {"FAILED", true},
                   {"UP", true},
                   {"LAST SEEN", true}});
  for (const auto& w : workers) {
    table.add_row({w.hostname, std::to_string(w.pid), fmt::format("{}", fmt::join(w.queues, ",")),
                   std::to_string(w.concurrency), std::to_string(w.processed),
                   std::to_string(w.failed), age(w.started_at, now),
                   age(w.last_heartbeat, now) + " ago"});
  }
  table.print(out);
}

} // namespace

int run_inspect_workers(const Invocation& invocation) {
  auto options = command_options(invocation, "The workers that reported to the database", "");
  options.add_options()("json", "print JSON instead of a table");
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  const auto conn = open_database(config);
  const auto workers = store::list_workers(*conn, config.database.schema);
  const auto now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  if (flag_option(*parsed, "json")) {
    print_json(invocation.out, workers, now);
  } else {
    print_table(invocation.out, workers, now);
  }
  return kExitOk;
}

} // namespace celeriac::cli
