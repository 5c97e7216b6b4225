// BatchWriter: the StoreWriter thread's connection, and how one batch is
// written: in one transaction, or, when PostgreSQL refuses the batch for its
// data, split in halves until the refused changes stand alone.
//
// Threading: one thread (the StoreWriter's) uses a BatchWriter.
#pragma once

#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "celeriac/store/job_changes.hpp"

namespace celeriac::store::detail {

// The connection failed (or a commit's outcome is unknown): nothing of the
// batch may be assumed written, and the connection has been dropped.
class ConnectionLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BatchWriter {
 public:
  BatchWriter(std::string url, std::string schema);

  bool connected() const { return conn_ != nullptr; }
  // Throws ConnectionLost naming the reason (the URL's password never appears).
  void connect();

  // Writes CHANGES; the result holds, per change, "" when committed or the
  // database's reason for refusing it. Throws ConnectionLost.
  std::vector<std::string> write(std::span<const JobChange> changes);

 private:
  void write_part(std::span<const JobChange> part, std::string* reasons);
  [[noreturn]] void lose(const std::exception& e);

  std::string url_;
  std::string schema_;
  std::unique_ptr<pqxx::connection> conn_;
};

} // namespace celeriac::store::detail
