// Every field of a Job as JSON, for comparing a job across a process
// boundary (process_pool_test and the pool child it spawns).
#pragma once

#include <nlohmann/json.hpp>

#include "celeriac/core/header_value.hpp"
#include "celeriac/core/job.hpp"

namespace celeriac::test {

inline nlohmann::json describe(const Job& job) {
  auto time = [](const auto& t) -> nlohmann::json {
    return t ? nlohmann::json(t->time_since_epoch().count()) : nlohmann::json();
  };
  auto count = [](const auto& d) -> nlohmann::json {
    return d ? nlohmann::json(d->count()) : nlohmann::json();
  };
  auto id = [](const auto& i) -> nlohmann::json {
    return i ? nlohmann::json(i->str()) : nlohmann::json();
  };
  auto text = [](const auto& s) -> nlohmann::json {
    return s ? nlohmann::json(*s) : nlohmann::json();
  };
  return {{"id", job.id.str()},
          {"task", job.task},
          {"args", job.args},
          {"kwargs", job.kwargs},
          {"queue", job.queue},
          {"priority", job.priority},
          {"eta", time(job.eta)},
          {"expires", time(job.expires)},
          {"retries", job.retries},
          {"soft_time_limit", count(job.soft_time_limit)},
          {"hard_time_limit", count(job.hard_time_limit)},
          {"parent_id", id(job.parent_id)},
          {"root_id", id(job.root_id)},
          {"group", text(job.group)},
          {"group_index", job.group_index ? nlohmann::json(*job.group_index) : nlohmann::json()},
          {"ignore_result", job.ignore_result},
          {"shadow", text(job.shadow)},
          {"origin", text(job.origin)},
          {"reply_to", text(job.reply_to)},
          {"argsrepr", text(job.argsrepr)},
          {"kwargsrepr", text(job.kwargsrepr)},
          {"sent_at", time(job.sent_at)},
          {"embed", job.embed},
          {"extra_headers", to_json(job.extra_headers)}};
}

} // namespace celeriac::test
