#include <fmt/format.h>

#include "celeriac/client.hpp"

namespace celeriac {
namespace {

std::string_view kind_name(PublishError::Kind kind) {
  switch (kind) {
    case PublishError::Kind::Nacked:
      return "nacked by the broker";
    case PublishError::Kind::Returned:
      return "returned as unroutable";
    case PublishError::Kind::Failed:
      return "not published";
  }
  return "not published";
}

std::string state_text(std::optional<JobState> state) {
  return state ? std::string(to_string(*state)) : std::string("no record");
}

std::string failure_text(const store::JobRecord& record) {
  std::string text = fmt::format("job {} ended in {}", record.id.str(), to_string(record.state));
  if (record.error) text += fmt::format(": {}: {}", record.error->type, record.error->message);
  return text;
}

} // namespace

PublishError::PublishError(JobId id, std::string queue, Kind kind, std::string detail)
    : InfrastructureError(
          fmt::format("job {} to queue '{}' {}: {}", id.str(), queue, kind_name(kind), detail)),
      id_(id),
      queue_(std::move(queue)),
      kind_(kind),
      detail_(std::move(detail)) {}

WaitTimeout::WaitTimeout(JobId id, Duration timeout, std::optional<JobState> last_state)
    : Error(fmt::format("job {} not finished after {} (state: {})", id.str(),
                        format_duration(timeout), state_text(last_state))),
      id_(id),
      last_state_(last_state) {}

JobFailed::JobFailed(store::JobRecord record)
    : Error(failure_text(record)), record_(std::move(record)) {}

} // namespace celeriac
