#include "pool_frames.hpp"

#include "celeriac/core/error.hpp"

namespace celeriac::worker::detail {

std::string encode_frame(const nlohmann::json& payload) {
  const std::string text = payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const auto n = static_cast<std::uint32_t>(text.size());
  std::string frame;
  frame.reserve(4 + text.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    frame.push_back(static_cast<char>((n >> shift) & 0xff));
  frame += text;
  return frame;
}

std::optional<nlohmann::json> FrameReader::next() {
  if (buffer_.size() < 4) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n = (n << 8) | static_cast<unsigned char>(buffer_[i]);
  if (n > kMaxFrameBytes)
    throw DecodeError("frame", "length " + std::to_string(n) + " is over the limit");
  if (buffer_.size() < 4 + std::size_t{n}) return std::nullopt;
  nlohmann::json payload =
      nlohmann::json::parse(buffer_.begin() + 4, buffer_.begin() + 4 + n, nullptr, false);
  buffer_.erase(0, 4 + std::size_t{n});
  if (payload.is_discarded()) throw DecodeError("frame", "not JSON");
  return payload;
}

nlohmann::json job_frame(const Job& job) {
  const Message message = encode_job(job);
  return {{"queue", job.queue}, {"headers", to_json(message.headers)}, {"body", message.body}};
}

Job job_from_frame(const nlohmann::json& frame) {
  try {
    Message message;
    const HeaderValue headers = header_from_json(frame.at("headers"));
    if (const auto* table = headers.get_if<HeaderTable>()) message.headers = *table;
    message.body = frame.at("body").get<std::string>();
    return decode_job(message, frame.at("queue").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw DecodeError("frame", e.what());
  }
}

} // namespace celeriac::worker::detail
