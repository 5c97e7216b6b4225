// The phase's scratch schema: created and migrated at the start, read for
// progress and the verdict, dropped at the end. Each call opens a connection
// of its own, so a database that restarts between calls costs nothing.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace celeriac::chaos {

struct JobRow {
  std::string id;
  std::string state;
  std::string task;
  std::string error_type;
};

void create_schema(const std::string& url, const std::string& schema);
void drop_schema(const std::string& url, const std::string& schema);
// Every row of SCHEMA.jobs; nullopt while the database cannot be reached.
std::optional<std::vector<JobRow>> job_rows(const std::string& url, const std::string& schema);

} // namespace celeriac::chaos
