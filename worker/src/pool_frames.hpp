// The frames between the worker and its pool children: a 4-byte big-endian
// length, then that many bytes. A job frame holds the job's fields, each
// tagged and length-prefixed (job_frame); an outcome frame holds a task's
// result as JSON text, or any other outcome as to_json(TaskOutcome)
// (outcome_frame). Both ends are the same binary (docs/worker.md: restart the
// workers after replacing it), so the layout carries no version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "celeriac/core/job.hpp"
#include "celeriac/worker/task_outcome.hpp"

namespace celeriac::worker::detail {

inline constexpr std::size_t kMaxFrameBytes = 64u << 20;

// Collects bytes as they arrive and yields whole frames' payloads, each
// valid until the next append(). A length over kMaxFrameBytes throws
// DecodeError.
class FrameReader {
 public:
  void append(std::string_view bytes);
  std::optional<std::string_view> next();

 private:
  std::string buffer_;
  std::size_t consumed_ = 0; // bytes of buffer_ already yielded
};

// job_frame and outcome_frame return the whole frame, its length first;
// job_from_frame and outcome_from_frame take the payload FrameReader yields.
//
// The job: each field with a value as a one-byte tag, a 4-byte length and
// its bytes; text as it is, numbers as 8 bytes, ids as their 16, times and
// durations in microseconds, args, kwargs, embed and the extra headers as
// JSON text (docs/worker.md, "Pools", on why not one JSON object).
std::string job_frame(const Job& job);
Job job_from_frame(std::string_view payload); // throws DecodeError naming the field

// The outcome: 'S' and the result's JSON text for a success, 'J' and
// to_json(outcome) for any other. An outcome whose frame would pass
// kMaxFrameBytes goes as Failed ResultTooLarge (or OutcomeTooLarge), a
// permanent error, instead of the child being taken for broken.
std::string outcome_frame(const TaskOutcome& outcome);
TaskOutcome outcome_from_frame(std::string_view payload); // throws DecodeError

} // namespace celeriac::worker::detail
