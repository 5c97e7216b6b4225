// How the job commands read a job id and show a job's record: as stable JSON
// (--json) or as aligned "key: value" lines for people.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "celeriac/core/job_id.hpp"
#include "celeriac/store/job_records.hpp"

namespace celeriac::cli {

// T as ISO 8601 text, or null.
nlohmann::json time_or_null(const std::optional<Timestamp>& t);

// TEXT as a job id; InvalidInput naming FIELD when it is not a canonical UUID.
JobId parse_job_id(const std::string& text, const std::string& field = "ID");

// Every field of RECORD; absent values are null, timestamps ISO 8601.
nlohmann::json record_json(const store::JobRecord& record);

void print_record(std::ostream& out, const store::JobRecord& record);

// "job <id> ended in FAILURE: ValueError: bad input": why a job has no result.
std::string failure_line(const store::JobRecord& record);

} // namespace celeriac::cli
