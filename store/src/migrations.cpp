// Applies the embedded migrations (embedded_migrations.hpp) one transaction per
// version, serialized across processes by an advisory lock on the schema name.
#include "celeriac/store/migrations.hpp"

#include <cstdint>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "embedded_migrations.hpp"

namespace celeriac::store {
namespace {

constexpr std::size_t kMaxSchemaLength = 54;
// How the migration SQL names its schema: psql's quoted-identifier variable.
constexpr std::string_view kSchemaPlaceholder = ":\"schema\"";

// A fixed advisory-lock key per schema: FNV-1a (64-bit) of a prefix and the
// name, the same in every process and every celeriac version.
std::int64_t migration_lock_key(std::string_view schema) {
  std::uint64_t hash = 14695981039346656037ULL;
  auto mix = [&hash](std::string_view text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
  };
  mix("celeriac.migrate:");
  mix(schema);
  return static_cast<std::int64_t>(hash);
}

std::string with_schema(std::string_view sql, const std::string& quoted_schema) {
  std::string out;
  out.reserve(sql.size());
  std::size_t from = 0;
  for (std::size_t at = sql.find(kSchemaPlaceholder); at != std::string_view::npos;
       at = sql.find(kSchemaPlaceholder, from)) {
    out.append(sql.substr(from, at - from)).append(quoted_schema);
    from = at + kSchemaPlaceholder.size();
  }
  out.append(sql.substr(from));
  return out;
}

void lock_schema(pqxx::work& tx, const std::string& schema) {
  tx.exec_params("select pg_advisory_xact_lock($1)", migration_lock_key(schema));
}

int recorded_version(pqxx::work& tx, const std::string& schema) {
  return tx
      .exec1("select coalesce(max(version), 0) from " + tx.quote_name(schema) +
             ".schema_migrations")[0]
      .as<int>();
}

// The schema and its bookkeeping table, created under the lock so that
// concurrent first runs do not race on CREATE SCHEMA.
void create_bookkeeping(pqxx::connection& conn, const std::string& schema) {
  pqxx::work tx{conn};
  lock_schema(tx, schema);
  const std::string quoted = tx.quote_name(schema);
  tx.exec0("create schema if not exists " + quoted);
  tx.exec0("create table if not exists " + quoted +
           ".schema_migrations (version int primary key, name text not null,"
           " applied_at timestamptz not null default now())");
  tx.commit();
}

// Applies the version after the recorded one if it is at most UP_TO; returns
// the version applied, or 0 when there was nothing to do.
int apply_next(pqxx::connection& conn, const std::string& schema, int up_to) {
  const auto migrations = detail::embedded_migrations();
  pqxx::work tx{conn};
  lock_schema(tx, schema);
  const int version = recorded_version(tx, schema);
  if (version > latest_version()) throw SchemaTooNew(schema, version, latest_version());
  if (version >= up_to) return 0;
  const detail::EmbeddedMigration& next = migrations[static_cast<std::size_t>(version)];
  try {
    tx.exec(with_schema(next.sql, tx.quote_name(schema)));
    tx.exec_params0("insert into " + tx.quote_name(schema) +
                        ".schema_migrations (version, name) values ($1, $2)",
                    next.version, std::string(next.name));
    tx.commit();
  } catch (const pqxx::failure& e) {
    throw InfrastructureError(fmt::format("schema {}: migration {:04}_{} failed: {}", schema,
                                          next.version, next.name, e.what()));
  }
  spdlog::info("store: schema {} migrated to version {} ({})", schema, next.version, next.name);
  return next.version;
}

} // namespace

SchemaTooNew::SchemaTooNew(const std::string& schema, int database_version, int binary_version)
    : InfrastructureError(
          fmt::format("schema {} is at version {}, newer than this binary's latest version {}; "
                      "run a celeriac at least as new as the one that migrated it",
                      schema, database_version, binary_version)),
      database_version_(database_version),
      binary_version_(binary_version) {}

void validate_schema_name(std::string_view schema) {
  auto fail = [](const std::string& reason) { throw InvalidInput("schema", reason); };
  if (schema.empty() || schema.size() > kMaxSchemaLength) {
    fail(fmt::format("must be 1 to {} characters, got {}", kMaxSchemaLength, schema.size()));
  }
  for (const char c : schema) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) fail(fmt::format("may hold only a-z, 0-9 and _, got \"{}\"", schema));
  }
  if (schema.front() >= '0' && schema.front() <= '9') {
    fail(fmt::format("must not start with a digit, got \"{}\"", schema));
  }
  if (schema.starts_with("pg_")) fail("must not start with pg_ (reserved by PostgreSQL)");
}

int latest_version() {
  return static_cast<int>(detail::embedded_migrations().size());
}

int current_version(pqxx::connection& conn, const std::string& schema) {
  validate_schema_name(schema);
  try {
    pqxx::work tx{conn};
    const std::string table = tx.quote_name(schema) + ".schema_migrations";
    if (tx.exec_params1("select to_regclass($1) is not null", table)[0].as<bool>()) {
      return recorded_version(tx, schema);
    }
    return 0;
  } catch (const pqxx::failure& e) {
    throw InfrastructureError(
        fmt::format("reading the version of schema {}: {}", schema, e.what()));
  }
}

MigrationResult migrate(pqxx::connection& conn, const std::string& schema) {
  return migrate(conn, schema, latest_version());
}

MigrationResult migrate(pqxx::connection& conn, const std::string& schema, int up_to) {
  validate_schema_name(schema);
  if (up_to < 0 || up_to > latest_version()) {
    throw InvalidInput("up_to",
                       fmt::format("must be between 0 and {}, got {}", latest_version(), up_to));
  }
  MigrationResult result;
  result.from_version = current_version(conn, schema);
  try {
    create_bookkeeping(conn, schema);
    for (int applied = apply_next(conn, schema, up_to); applied != 0;
         applied = apply_next(conn, schema, up_to)) {
      result.applied.push_back(applied);
    }
  } catch (const pqxx::failure& e) {
    throw InfrastructureError(fmt::format("migrating schema {}: {}", schema, e.what()));
  }
  result.to_version = current_version(conn, schema);
  return result;
}

} // namespace celeriac::store
