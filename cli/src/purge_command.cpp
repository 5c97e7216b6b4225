// purge QUEUE --yes: deletes a queue's ready messages. Only configured queues
// (and their "<queue>.dead" dead-letter queues) can be purged, so a typo never
// reaches a queue that celeriac does not own.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "celeriac/broker/queue_admin.hpp"
#include "celeriac/broker/topology.hpp"
#include "celeriac/core/error.hpp"
#include "commands.hpp"
#include "server_access.hpp"

namespace celeriac::cli {
namespace {

bool is_known_queue(const Config& config, const std::string& name) {
  for (const auto& queue : config.queues) {
    if (queue.name == name || broker::dead_letter_queue(queue.name) == name) return true;
  }
  return false;
}

std::string configured_names(const Config& config) {
  std::string names;
  for (const auto& queue : config.queues)
    names += (names.empty() ? "" : ", ") + queue.name;
  return names;
}

} // namespace

int run_purge(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Delete every ready message of QUEUE (unacked ones stay with their workers)",
      "QUEUE");
  auto add = options.add_options();
  add("yes", "confirm: really delete the messages");
  add("json", "print the outcome as JSON");
  const auto parsed = parse_command(options, invocation, {"QUEUE"});
  if (!parsed) return kExitOk;
  const std::string& queue = parsed->positional[0];
  const Config config = load_config(*parsed, invocation);
  if (!is_known_queue(config, queue)) {
    throw InvalidInput("queue", fmt::format("'{}' is not a configured queue (configured: {})",
                                            queue, configured_names(config)));
  }
  if (!flag_option(*parsed, "yes")) {
    throw UsageError(fmt::format("refusing to purge '{}' without --yes", queue));
  }
  broker::QueueAdmin admin(broker_connection_options(config));
  const std::optional<std::uint32_t> purged = admin.purge(queue);
  if (flag_option(*parsed, "json")) {
    invocation.out << nlohmann::json{{"queue", queue},
                                     {"exists", purged.has_value()},
                                     {"purged", purged.value_or(0)}}
                          .dump()
                   << "\n";
  } else if (!purged) {
    invocation.out << fmt::format("queue {} does not exist on the broker: nothing to purge\n",
                                  queue);
  } else {
    invocation.out << fmt::format("purged {} message{} from {}\n", *purged, *purged == 1 ? "" : "s",
                                  queue);
  }
  return kExitOk;
}

} // namespace celeriac::cli
