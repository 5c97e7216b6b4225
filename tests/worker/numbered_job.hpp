// Jobs for the pool and job-path tests: id from a counter, so each test's
// jobs are distinct and their ids readable in failures.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "celeriac/core/job.hpp"

namespace celeriac::test {

struct JobNumbers {
  int next = 0;

  Job operator()(const std::string& task, nlohmann::json args) {
    Job job;
    JobId::Bytes bytes{};
    bytes[0] = static_cast<std::uint8_t>(++next);
    bytes[1] = static_cast<std::uint8_t>(next >> 8);
    job.id = JobId::v4(bytes);
    job.task = task;
    job.queue = "default";
    job.args = std::move(args);
    return job;
  }
};

} // namespace celeriac::test
