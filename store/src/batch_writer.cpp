#include "batch_writer.hpp"

#include <fmt/format.h>

#include "celeriac/core/config.hpp"
#include "celeriac/store/database_url.hpp"

namespace celeriac::store::detail {
namespace {

// SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation)
// are about the rows themselves: writing them again cannot succeed. Anything
// else (a lost connection, a shutdown, a missing table before `migrate`) may
// pass later, so it is retried.
bool refused_for_its_data(const pqxx::sql_error& e) {
  const std::string state = e.sqlstate();
  return state.starts_with("22") || state.starts_with("23");
}

} // namespace

BatchWriter::BatchWriter(std::string url, std::string schema)
    : url_(with_connect_timeout(std::move(url))), schema_(std::move(schema)) {}

void BatchWriter::connect() {
  try {
    conn_ = std::make_unique<pqxx::connection>(url_);
  } catch (const std::exception& e) {
    lose(e);
  }
}

BatchWriter::Written BatchWriter::write(std::span<const JobChange> changes) {
  Written written;
  written.reasons.resize(changes.size());
  if (!conn_) connect();
  write_part(changes, written.reasons.data(), written.deliveries);
  return written;
}

void BatchWriter::write_part(std::span<const JobChange> part, std::string* reasons,
                             DeliveryCounts& counts) {
  try {
    // One statement, so no transaction around it: in autocommit it commits
    // on its own, and BEGIN and COMMIT would be two more round trips, each
    // waking PostgreSQL's backend and this thread, for every batch.
    pqxx::nontransaction txn{*conn_};
    DeliveryCounts written = apply_changes(txn, schema_, part);
    counts.merge(written);
    return;
  } catch (const pqxx::sql_error& e) {
    if (!refused_for_its_data(e)) lose(e);
    if (part.size() == 1) {
      *reasons = e.what();
      if (reasons->ends_with('\n')) reasons->pop_back();
      return;
    }
  } catch (const std::exception& e) {
    lose(e);
  }
  const std::size_t half = part.size() / 2;
  write_part(part.first(half), reasons, counts);
  write_part(part.subspan(half), reasons + half, counts);
}

void BatchWriter::lose(const std::exception& e) {
  conn_.reset();
  std::string reason = e.what();
  while (reason.ends_with('\n'))
    reason.pop_back();
  // libpq's messages name host and port, never the password; redact anyway
  // in case a future message quotes the URL.
  for (auto at = reason.find(url_); at != std::string::npos; at = reason.find(url_))
    reason.replace(at, url_.size(), redact_url(url_));
  throw ConnectionLost(reason);
}

} // namespace celeriac::store::detail
