// The chaos run's workload: what each enqueued job is and the outcome it must
// end with.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace celeriac::chaos {

enum class JobKind {
  Note,    // demo.note(path): must succeed; its lines in PATH count its runs
  Invalid, // demo.add("x", 1): must fail (InvalidInput, no retry)
  Flaky,   // demo.fail(0.5): retries, then succeeds or fails; either is right
};

// The kind of the I-th job: 1 % invalid, 2 % flaky, the rest notes.
inline JobKind job_kind(int i) {
  if (i % 100 == 7) return JobKind::Invalid;
  if (i % 100 == 13 || i % 100 == 57) return JobKind::Flaky;
  return JobKind::Note;
}

inline const char* task_of(JobKind kind) {
  switch (kind) {
    case JobKind::Note:
      return "demo.note";
    case JobKind::Invalid:
      return "demo.add";
    case JobKind::Flaky:
      return "demo.fail";
  }
  return "";
}

inline nlohmann::json args_of(JobKind kind, const std::string& note_path) {
  switch (kind) {
    case JobKind::Note:
      return {note_path};
    case JobKind::Invalid:
      return {"x", 1};
    case JobKind::Flaky:
      return {0.5};
  }
  return nlohmann::json::array();
}

// Whether a terminal STATE is the right end for a job of KIND.
inline bool right_outcome(JobKind kind, const std::string& state) {
  switch (kind) {
    case JobKind::Note:
      return state == "SUCCESS";
    case JobKind::Invalid:
      return state == "FAILURE";
    case JobKind::Flaky:
      return state == "SUCCESS" || state == "FAILURE";
  }
  return false;
}

} // namespace celeriac::chaos
