#include "phase_store.hpp"

#include <pqxx/pqxx>

#include "celeriac/store/migrations.hpp"

namespace celeriac::chaos {

void create_schema(const std::string& url, const std::string& schema) {
  pqxx::connection conn(url);
  store::migrate(conn, schema);
}

void drop_schema(const std::string& url, const std::string& schema) {
  pqxx::connection conn(url);
  pqxx::work tx(conn);
  tx.exec0("drop schema if exists " + tx.quote_name(schema) + " cascade");
  tx.commit();
}

std::optional<std::vector<JobRow>> job_rows(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection conn(url);
    pqxx::read_transaction tx(conn);
    const pqxx::result rows =
        tx.exec("select id::text, state, coalesce(task, ''), coalesce(error_type, '') from " +
                tx.quote_name(schema) + ".jobs");
    std::vector<JobRow> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
      out.push_back(JobRow{row[0].as<std::string>(), row[1].as<std::string>(),
                           row[2].as<std::string>(), row[3].as<std::string>()});
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

} // namespace celeriac::chaos
