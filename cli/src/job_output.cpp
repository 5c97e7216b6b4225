#include "job_output.hpp"

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac::cli {
namespace {

template <typename T>
nlohmann::json or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json id_or_null(const std::optional<JobId>& id) {
  return id ? nlohmann::json(id->str()) : nlohmann::json(nullptr);
}

nlohmann::json error_json(const std::optional<store::JobError>& error) {
  if (!error) return nullptr;
  return {{"type", error->type}, {"message", error->message}, {"stack", error->stack}};
}

} // namespace

nlohmann::json time_or_null(const std::optional<Timestamp>& t) {
  return t ? nlohmann::json(format_iso8601(*t)) : nlohmann::json(nullptr);
}

JobId parse_job_id(const std::string& text, const std::string& field) {
  const std::optional<JobId> id = JobId::parse(text);
  if (!id) {
    throw InvalidInput(field, fmt::format("'{}' is not a job id (a UUID such as "
                                          "2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f)",
                                          text));
  }
  return *id;
}

nlohmann::json record_json(const store::JobRecord& r) {
  return {{"id", r.id.str()},
          {"task", or_null(r.task)},
          {"queue", or_null(r.queue)},
          {"priority", r.priority},
          {"state", to_string(r.state)},
          {"args", r.args},
          {"kwargs", r.kwargs},
          {"result", r.result ? *r.result : nlohmann::json(nullptr)},
          {"error", error_json(r.error)},
          {"retries", r.retries},
          {"max_retries", or_null(r.max_retries)},
          {"deliveries", r.deliveries},
          {"worker", or_null(r.worker)},
          {"parent_id", id_or_null(r.parent_id)},
          {"root_id", id_or_null(r.root_id)},
          {"group", or_null(r.group)},
          {"eta", time_or_null(r.eta)},
          {"expires", time_or_null(r.expires)},
          {"enqueued_at", time_or_null(r.enqueued_at)},
          {"received_at", time_or_null(r.received_at)},
          {"started_at", time_or_null(r.started_at)},
          {"finished_at", time_or_null(r.finished_at)},
          {"updated_at", format_iso8601(r.updated_at)}};
}

void print_record(std::ostream& out, const store::JobRecord& r) {
  const auto line = [&](std::string_view key, const std::string& value) {
    out << fmt::format("{:<12} {}\n", fmt::format("{}:", key), value);
  };
  const auto time_line = [&](std::string_view key, const std::optional<Timestamp>& t) {
    if (t) line(key, format_iso8601(*t));
  };
  line("id", r.id.str());
  line("task", r.task.value_or("-"));
  line("state", std::string(to_string(r.state)));
  line("queue", r.queue.value_or("-"));
  line("priority", std::to_string(r.priority));
  line("retries", r.max_retries ? fmt::format("{} of {}", r.retries, *r.max_retries)
                                : std::to_string(r.retries));
  if (r.worker) line("worker", *r.worker);
  time_line("eta", r.eta);
  time_line("expires", r.expires);
  time_line("enqueued", r.enqueued_at);
  time_line("received", r.received_at);
  time_line("started", r.started_at);
  time_line("finished", r.finished_at);
  if (r.result) line("result", r.result->dump());
  if (r.error) line("error", fmt::format("{}: {}", r.error->type, r.error->message));
}

std::string failure_line(const store::JobRecord& r) {
  std::string text = fmt::format("job {} ended in {}", r.id.str(), to_string(r.state));
  if (r.error) text += fmt::format(": {}: {}", r.error->type, r.error->message);
  return text;
}

} // namespace celeriac::cli
