// How the store's SQL names its tables and reads timestamps back: shared by
// every file in store/src that queries the schema.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "celeriac/core/time.hpp"

namespace celeriac::store::detail {

// "schema"."name", after validate_schema_name(SCHEMA).
std::string qualified_table(pqxx::connection_base& conn, const std::string& schema,
                            std::string_view name);

// A timestamptz EXPRESSION as text parse_iso8601 reads exactly (microseconds,
// UTC), so neither the session's time zone nor floating-point epochs shift it.
std::string utc_text(std::string_view expression);

// FIELD (written by utc_text) as a time; nullopt for NULL. An unreadable one
// is InfrastructureError naming WHAT ("jobs.eta").
std::optional<Timestamp> time_or_null(const pqxx::field& field, std::string_view what);

} // namespace celeriac::store::detail
