// The states of a job and the legal moves between them (DESIGN.md "Job states",
// drawn in docs/state_machine.md):
//
//   PENDING ─► RECEIVED ─► STARTED ─► SUCCESS
//                 ▲            ├────► FAILURE
//                 │            ├────► REVOKED
//                 └── RETRY ◄──┘
//
// Also legal: RECEIVED/PENDING/RETRY -> REVOKED (revoked or expired before it
// ran) and -> FAILURE (undecodable, unknown task, too many redeliveries), and
// STARTED -> RECEIVED (the worker died and the broker redelivered the job).
// SUCCESS, FAILURE and REVOKED are terminal: nothing leaves them.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace celeriac {

enum class JobState { Pending, Received, Started, Retry, Success, Failure, Revoked };

inline constexpr std::array kAllJobStates{JobState::Pending, JobState::Received, JobState::Started,
                                          JobState::Retry,   JobState::Success,  JobState::Failure,
                                          JobState::Revoked};

// Celery's names: "PENDING", "RECEIVED", ...
std::string_view to_string(JobState state);
std::optional<JobState> parse_job_state(std::string_view name);

bool is_terminal(JobState state);
bool is_legal_transition(JobState from, JobState to);

} // namespace celeriac
