#include "celeriac/core/job_state.hpp"

namespace celeriac {

std::string_view to_string(JobState state) {
  switch (state) {
    case JobState::Pending:
      return "PENDING";
    case JobState::Received:
      return "RECEIVED";
    case JobState::Started:
      return "STARTED";
    case JobState::Retry:
      return "RETRY";
    case JobState::Success:
      return "SUCCESS";
    case JobState::Failure:
      return "FAILURE";
    case JobState::Revoked:
      return "REVOKED";
  }
  return "UNKNOWN";
}

std::optional<JobState> parse_job_state(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

bool is_terminal(JobState state) {
  return state == JobState::Success || state == JobState::Failure || state == JobState::Revoked;
}

bool is_legal_transition(JobState from, JobState to) {
  using enum JobState;
  switch (from) {
    // Pending and Retry may go straight to Started: a worker records a first
    // delivery's RECEIVED and STARTED as one change (docs/state_machine.md).
    case Pending:
      return to == Received || to == Started || to == Revoked || to == Failure;
    case Received:
      return to == Started || to == Revoked || to == Failure;
    case Started:
      return to == Success || to == Failure || to == Retry || to == Revoked || to == Received;
    case Retry:
      return to == Received || to == Started || to == Revoked || to == Failure;
    case Success:
    case Failure:
    case Revoked:
      return false;
  }
  return false;
}

} // namespace celeriac
