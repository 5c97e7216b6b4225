// BatchWriter: the StoreWriter thread's connection, and how one batch is
// written: as one statement in autocommit, or, when PostgreSQL refuses the
// batch for its data, split in halves until the refused changes stand alone.
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

// The connection failed: the batch may or may not have been committed (a
// statement that ran to its commit before the connection went, and whose
// reply was lost, is written), and the connection has been dropped. The
// caller writes the batch again; see docs/store.md on what that re-applies.
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

  struct Written {
    std::vector<std::string> reasons; // per change: "" when committed, else why not
    DeliveryCounts deliveries;        // per job written
  };
  // Writes CHANGES. Throws ConnectionLost.
  Written write(std::span<const JobChange> changes);

 private:
  void write_part(std::span<const JobChange> part, std::string* reasons, DeliveryCounts& counts);
  [[noreturn]] void lose(const std::exception& e);

  std::string url_;
  std::string schema_;
  std::unique_ptr<pqxx::connection> conn_;
};

} // namespace celeriac::store::detail
