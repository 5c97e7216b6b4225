// migrate and config check: the commands an operator runs when deploying.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "celeriac/broker/broker_url.hpp"
#include "celeriac/broker/management_url.hpp"
#include "celeriac/store/migrations.hpp"
#include "commands.hpp"
#include "server_access.hpp"

namespace celeriac::cli {

int run_migrate(const Invocation& invocation) {
  auto options = command_options(invocation, "Create or upgrade the database schema", "");
  options.add_options()("json", "print the outcome as JSON");
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  const std::string& schema = config.database.schema;
  store::validate_schema_name(schema);
  const auto conn = open_database(config);
  const store::MigrationResult result = store::migrate(*conn, schema);
  if (flag_option(*parsed, "json")) {
    invocation.out << nlohmann::json{{"schema", schema},
                                     {"from_version", result.from_version},
                                     {"to_version", result.to_version},
                                     {"applied", result.applied}}
                          .dump()
                   << "\n";
  } else if (result.applied.empty()) {
    invocation.out << fmt::format("schema {} is up to date at version {}\n", schema,
                                  result.to_version);
  } else {
    invocation.out << fmt::format("schema {} migrated from version {} to {} (applied {})\n", schema,
                                  result.from_version, result.to_version,
                                  fmt::join(result.applied, ", "));
  }
  return kExitOk;
}

int run_config_check(const Invocation& invocation) {
  auto options = command_options(
      invocation, "Validate the configuration and print it as JSON, secrets masked", "");
  const auto parsed = parse_command(options, invocation, {});
  if (!parsed) return kExitOk;
  const Config config = load_config(*parsed, invocation);
  // The URLs are only strings to the config parser; check them the way the
  // broker and the database clients will read them.
  broker::BrokerUrl::parse(config.broker.url);
  if (config.broker.management_url) broker::parse_management_url(*config.broker.management_url);
  store::validate_schema_name(config.database.schema);
  invocation.out << to_json(config, /*redact=*/true).dump(2) << "\n";
  return kExitOk;
}

} // namespace celeriac::cli
