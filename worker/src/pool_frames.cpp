#include "pool_frames.hpp"

#include "celeriac/core/error.hpp"
#include "celeriac/core/json_text.hpp"

namespace celeriac::worker::detail {
namespace {

void put_micros(JsonMembers& o, std::string_view key, const std::optional<Timestamp>& value) {
  if (value) o.number(key, value->time_since_epoch().count());
}
void put_micros(JsonMembers& o, std::string_view key, const std::optional<Duration>& value) {
  if (value) o.number(key, value->count());
}

template <typename T>
std::optional<T> optional_field(const nlohmann::json& frame, const char* key) {
  const auto it = frame.find(key);
  if (it == frame.end()) return std::nullopt;
  return it->get<T>();
}

std::optional<JobId> id_field(const nlohmann::json& frame, const char* key) {
  const auto text = optional_field<std::string>(frame, key);
  if (!text) return std::nullopt;
  auto id = JobId::parse(*text);
  if (!id) throw DecodeError(std::string("frame.") + key, "not a UUID");
  return id;
}

} // namespace

std::string encode_frame_text(std::string_view text) {
  const auto n = static_cast<std::uint32_t>(text.size());
  std::string frame;
  frame.reserve(4 + text.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    frame.push_back(static_cast<char>((n >> shift) & 0xff));
  frame += text;
  return frame;
}

std::string encode_frame(const nlohmann::json& payload) {
  return encode_frame_text(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
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

std::string job_frame(const Job& job) {
  std::string text = "{";
  JsonMembers o(text);
  o.text("id", job.id.str());
  o.text("task", job.task);
  o.json("args", job.args);
  o.json("kwargs", job.kwargs);
  o.text("queue", job.queue);
  if (job.priority != 0) o.number("priority", job.priority);
  put_micros(o, "eta", job.eta);
  put_micros(o, "expires", job.expires);
  if (job.retries != 0) o.number("retries", job.retries);
  put_micros(o, "soft_time_limit", job.soft_time_limit);
  put_micros(o, "hard_time_limit", job.hard_time_limit);
  o.id("parent_id", job.parent_id);
  o.id("root_id", job.root_id);
  o.text("group", job.group);
  o.number("group_index", job.group_index);
  if (job.ignore_result) o.json("ignore_result", true);
  o.text("shadow", job.shadow);
  o.text("origin", job.origin);
  o.text("reply_to", job.reply_to);
  o.text("argsrepr", job.argsrepr);
  o.text("kwargsrepr", job.kwargsrepr);
  put_micros(o, "sent_at", job.sent_at);
  if (!job.embed.is_null()) o.json("embed", job.embed);
  if (!job.extra_headers.empty()) o.json("extra_headers", to_json(job.extra_headers));
  text += '}';
  return text;
}

Job job_from_frame(nlohmann::json frame) {
  try {
    Job job;
    const auto id = id_field(frame, "id");
    if (!id) throw DecodeError("frame.id", "missing");
    job.id = *id;
    job.task = frame.at("task").get<std::string>();
    job.args = std::move(frame.at("args"));
    job.kwargs = std::move(frame.at("kwargs"));
    job.queue = frame.at("queue").get<std::string>();
    job.priority = optional_field<int>(frame, "priority").value_or(0);
    auto time = [&](const char* key) -> std::optional<Timestamp> {
      const auto us = optional_field<std::int64_t>(frame, key);
      if (!us) return std::nullopt;
      return Timestamp(Duration(*us));
    };
    auto duration = [&](const char* key) -> std::optional<Duration> {
      const auto us = optional_field<std::int64_t>(frame, key);
      if (!us) return std::nullopt;
      return Duration(*us);
    };
    job.eta = time("eta");
    job.expires = time("expires");
    job.retries = optional_field<int>(frame, "retries").value_or(0);
    job.soft_time_limit = duration("soft_time_limit");
    job.hard_time_limit = duration("hard_time_limit");
    job.parent_id = id_field(frame, "parent_id");
    job.root_id = id_field(frame, "root_id");
    job.group = optional_field<std::string>(frame, "group");
    job.group_index = optional_field<int>(frame, "group_index");
    job.ignore_result = optional_field<bool>(frame, "ignore_result").value_or(false);
    job.shadow = optional_field<std::string>(frame, "shadow");
    job.origin = optional_field<std::string>(frame, "origin");
    job.reply_to = optional_field<std::string>(frame, "reply_to");
    job.argsrepr = optional_field<std::string>(frame, "argsrepr");
    job.kwargsrepr = optional_field<std::string>(frame, "kwargsrepr");
    job.sent_at = time("sent_at");
    if (const auto it = frame.find("embed"); it != frame.end()) job.embed = std::move(*it);
    if (const auto it = frame.find("extra_headers"); it != frame.end()) {
      const HeaderValue headers = header_from_json(*it);
      if (const auto* table = headers.get_if<HeaderTable>()) job.extra_headers = *table;
    }
    return job;
  } catch (const nlohmann::json::exception& e) {
    throw DecodeError("frame", e.what());
  }
}

} // namespace celeriac::worker::detail
