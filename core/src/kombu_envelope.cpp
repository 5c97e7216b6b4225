// kombu >= 5.3 wraps JSON values it cannot express natively as
// {"__type__": marker, "__value__": value}. Tasks see plain JSON instead.
#include <string>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/utf8.hpp"

namespace celeriac {
namespace {

std::optional<std::string> base64_decode(const std::string& text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// The canonical UUID text of a kombu uuid value: "hex" or {"hex": "..."}.
std::optional<std::string> uuid_text(const nlohmann::json& value) {
  const nlohmann::json* hex = &value;
  if (value.is_object() && value.contains("hex")) hex = &value["hex"];
  if (!hex->is_string()) return std::nullopt;
  std::string h = hex->get<std::string>();
  if (h.size() == 32) {
    h = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
        "-" + h.substr(20);
  }
  auto id = JobId::parse(h);
  return id ? std::optional(id->str()) : std::nullopt;
}

// The plain value for one envelope, or nullopt to keep the envelope as it is.
std::optional<nlohmann::json> unwrap(const std::string& marker, const nlohmann::json& value) {
  if (marker == "datetime" || marker == "date" || marker == "time" || marker == "decimal" ||
      marker == "bytes") {
    if (value.is_string()) return value;
  } else if (marker == "timedelta") {
    if (value.is_number()) return value;
  } else if (marker == "uuid") {
    if (auto text = uuid_text(value)) return *text;
  } else if (marker == "base64" && value.is_string()) {
    auto bytes = base64_decode(value.get<std::string>());
    if (bytes && is_valid_utf8(*bytes)) return *bytes;
  }
  return std::nullopt;
}

bool is_envelope(const nlohmann::json& value) {
  return value.is_object() && value.size() == 2 && value.contains("__type__") &&
         value.contains("__value__") && value["__type__"].is_string();
}

} // namespace

// Depth is bounded: decode_job rejects bodies nested deeper than CodecLimits::max_json_depth.
void unwrap_kombu_envelopes(nlohmann::json& value) {
  if (is_envelope(value)) {
    if (auto plain = unwrap(value["__type__"].get<std::string>(), value["__value__"])) {
      value = std::move(*plain);
      return;
    }
  }
  if (value.is_array() || value.is_object()) {
    for (auto& child : value)
      unwrap_kombu_envelopes(child);
  }
}

} // namespace celeriac
