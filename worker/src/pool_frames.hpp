// The frames between the worker and its pool children: a 4-byte big-endian
// length, then that many bytes of JSON. A job travels as its Celery message
// (the same codec as on the broker), an outcome as to_json(TaskOutcome).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/job.hpp"

namespace celeriac::worker::detail {

inline constexpr std::size_t kMaxFrameBytes = 64u << 20;

std::string encode_frame(const nlohmann::json& payload);

// Collects bytes as they arrive and yields whole frames. A length over
// kMaxFrameBytes or a payload that is not JSON throws DecodeError.
class FrameReader {
 public:
  void append(std::string_view bytes) { buffer_.append(bytes); }
  std::optional<nlohmann::json> next();

 private:
  std::string buffer_;
};

nlohmann::json job_frame(const Job& job);
Job job_from_frame(const nlohmann::json& frame); // throws DecodeError

} // namespace celeriac::worker::detail
