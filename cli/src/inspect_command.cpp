// inspect queues: one row per configured queue, from the management API when
// one is configured (ready, unacked, consumers, rates), else from passive
// declares over AMQP (ready and consumers only).
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "celeriac/broker/broker_url.hpp"
#include "celeriac/broker/management_api.hpp"
#include "celeriac/broker/queue_admin.hpp"
#include "celeriac/broker/topology.hpp"
#include "commands.hpp"
#include "server_access.hpp"
#include "text_table.hpp"

namespace celeriac::cli {
namespace {

struct QueueRow {
  std::string name;
  bool exists = false;
  std::optional<std::int64_t> ready;
  std::optional<std::int64_t> unacked;
  std::optional<std::int64_t> consumers;
  std::optional<std::int64_t> dead; // ready messages of <name>.dead
  std::optional<double> publish_rate;
  std::optional<double> deliver_rate;
};

struct QueueReport {
  std::string source; // "management" or "amqp"
  std::vector<QueueRow> rows;
};

QueueReport from_management(const Config& config) {
  broker::ManagementApi api(*config.broker.management_url);
  std::map<std::string, broker::QueueStats> by_name;
  for (auto& stats : api.queues(broker::BrokerUrl::parse(config.broker.url).vhost)) {
    by_name.emplace(stats.name, std::move(stats));
  }
  QueueReport report{"management", {}};
  for (const auto& queue : config.queues) {
    QueueRow row;
    row.name = queue.name;
    if (const auto it = by_name.find(queue.name); it != by_name.end()) {
      const broker::QueueStats& s = it->second;
      row.exists = true;
      row.ready = s.ready;
      row.unacked = s.unacked;
      row.consumers = s.consumers;
      row.publish_rate = s.publish_rate;
      row.deliver_rate = s.deliver_rate;
    }
    if (const auto it = by_name.find(broker::dead_letter_queue(queue.name)); it != by_name.end()) {
      row.dead = it->second.ready;
    }
    report.rows.push_back(std::move(row));
  }
  return report;
}

QueueReport from_amqp(const Config& config) {
  broker::QueueAdmin admin(broker_connection_options(config));
  QueueReport report{"amqp", {}};
  for (const auto& queue : config.queues) {
    QueueRow row;
    row.name = queue.name;
    if (const auto depth = admin.depth(queue.name)) {
      row.exists = true;
      row.ready = depth->ready;
      row.consumers = depth->consumers;
    }
    if (const auto dead = admin.depth(broker::dead_letter_queue(queue.name)))
      row.dead = dead->ready;
    report.rows.push_back(std::move(row));
  }
  return report;
}

template <typename T>
nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

void print_json(std::ostream& out, const QueueReport& report) {
  nlohmann::json queues = nlohmann::json::array();
  for (const auto& row : report.rows) {
    queues.push_back({{"name", row.name},
                      {"exists", row.exists},
                      {"ready", or_null(row.ready)},
                      {"unacked", or_null(row.unacked)},
                      {"consumers", or_null(row.consumers)},
                      {"dead", or_null(row.dead)},
                      {"publish_rate", or_null(row.publish_rate)},
                      {"deliver_rate", or_null(row.deliver_rate)}});
  }
  out << nlohmann::json{{"source", report.source}, {"queues", queues}}.dump() << "\n";
}

std::string cell(const std::optional<std::int64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

std::string cell(const std::optional<double>& value) {
  return value ? fmt::format("{:.2f}", *value) : "-";
}

void print_table(std::ostream& out, const QueueReport& report) {
  TextTable table({{"QUEUE"},
                   {"READY", true},
                   {"UNACKED", true},
                   {"CONSUMERS", true},
                   {"DEAD", true},
                   {"PUBLISH/S", true},
                   {"DELIVER/S", true}});
  bool missing = false;
  for (const auto& row : report.rows) {
    missing = missing || !row.exists;
    table.add_row({row.exists ? row.name : row.name + " *", cell(row.ready), cell(row.unacked),
                   cell(row.consumers), cell(row.dead), cell(row.publish_rate),
                   cell(row.deliver_rate)});
  }
  table.print(out);
  if (missing) out << "* not declared on the broker yet (a worker or an enqueue declares it)\n";
  if (report.source == "amqp") {
    out << "(no management API configured: unacked messages and rates are not known)\n";
  }
}

} // namespace

int run_inspect_queues(const Invocation& invocation) {
  auto options =
      command_options(invocation, "Depth, consumers and rates of each configured queue", "");
  options.add_options()("json", "print JSON instead of a table");
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  const QueueReport report =
      config.broker.management_url ? from_management(config) : from_amqp(config);
  if (flag_option(*parsed, "json")) {
    print_json(invocation.out, report);
  } else {
    print_table(invocation.out, report);
  }
  return kExitOk;
}

} // namespace celeriac::cli
