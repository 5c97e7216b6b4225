#include "sql_text.hpp"

#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "celeriac/store/migrations.hpp"

namespace celeriac::store::detail {

std::string qualified_table(pqxx::connection_base& conn, const std::string& schema,
                            std::string_view name) {
  validate_schema_name(schema);
  return conn.quote_name(schema) + "." + std::string(name);
}

std::string utc_text(std::string_view expression) {
  return fmt::format("to_char({} at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                     expression);
}

std::optional<Timestamp> time_or_null(const pqxx::field& field, std::string_view what) {
  if (field.is_null()) return std::nullopt;
  auto parsed = parse_iso8601(field.c_str());
  if (!parsed) {
    throw InfrastructureError(fmt::format("{}: unreadable time '{}'", what, field.c_str()));
  }
  return parsed;
}

} // namespace celeriac::store::detail
