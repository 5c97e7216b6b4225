// Versioned schema migrations for celeriac's PostgreSQL schema (DESIGN.md
// "PostgreSQL", docs/store.md).
//
// Each version is SQL embedded in the binary and applied in its own
// transaction, recorded in <schema>.schema_migrations. Migrating is safe from
// several processes at once: every step holds a transaction-level advisory
// lock keyed by the schema name, so concurrent migrators serialize and the
// later ones find nothing left to do. There are no down-migrations.
//
// Threading: the functions use the caller's connection, which must have no
// transaction open, and return when done; one connection per thread.
// Errors: a bad schema name throws InvalidInput before any SQL is sent; a
// database newer than this binary throws SchemaTooNew; any other database
// failure throws InfrastructureError naming the step.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/core/error.hpp"

namespace celeriac::store {

inline constexpr std::string_view kDefaultSchema = "celeriac";

// The database's schema was migrated by a newer celeriac than this one.
class SchemaTooNew : public InfrastructureError {
 public:
  SchemaTooNew(const std::string& schema, int database_version, int binary_version);
  int database_version() const noexcept { return database_version_; }
  int binary_version() const noexcept { return binary_version_; }

 private:
  int database_version_;
  int binary_version_;
};

struct MigrationResult {
  int from_version = 0;     // the schema's version before this call (0: none)
  int to_version = 0;       // its version after
  std::vector<int> applied; // versions this call applied, in order
};

// Throws InvalidInput (field "schema") unless SCHEMA is 1 to 54 characters of
// [a-z0-9_], not starting with a digit nor "pg_". 54 leaves room for the
// NOTIFY channel "<schema>_job_done" within PostgreSQL's 63-byte names.
void validate_schema_name(std::string_view schema);

// The newest version this binary knows.
int latest_version();

// The version SCHEMA is at: 0 when it has no schema_migrations table.
int current_version(pqxx::connection& conn, const std::string& schema);

// Creates SCHEMA if needed and applies every missing version up to UP_TO
// (default: latest_version()). UP_TO below latest is for tests of upgrades
// from older versions; outside 0..latest_version() it throws InvalidInput.
MigrationResult migrate(pqxx::connection& conn, const std::string& schema);
MigrationResult migrate(pqxx::connection& conn, const std::string& schema, int up_to);

} // namespace celeriac::store
