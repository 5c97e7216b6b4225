// The frames between the worker and its pool children: a 4-byte big-endian
// length, then that many bytes of JSON. A job travels as one JSON object of
// its fields (job_frame), an outcome as to_json(TaskOutcome).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "celeriac/core/job.hpp"

namespace celeriac::worker::detail {

inline constexpr std::size_t kMaxFrameBytes = 64u << 20;

std::string encode_frame(const nlohmann::json& payload);
// TEXT is the frame's JSON already written.
std::string encode_frame_text(std::string_view text);

// Collects bytes as they arrive and yields whole frames. A length over
// kMaxFrameBytes or a payload that is not JSON throws DecodeError.
class FrameReader {
 public:
  void append(std::string_view bytes) { buffer_.append(bytes); }
  std::optional<nlohmann::json> next();

 private:
  std::string buffer_;
};

// The job as one JSON object, written straight to text: each field under its
// own key, times and durations in microseconds, a field without a value left
// out. It used to travel as its Celery message (the headers as JSON beside
// the body), which cost the loop an encoding and the child a full decode with
// every check of hostile input, for a job the worker had already decoded.
std::string job_frame(const Job& job);
Job job_from_frame(nlohmann::json frame); // throws DecodeError

} // namespace celeriac::worker::detail
