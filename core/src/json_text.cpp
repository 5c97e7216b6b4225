#include "celeriac/core/json_text.hpp"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

namespace celeriac {

void append_json_string(std::string& out, std::string_view value) {
  const bool plain = std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
  if (!plain) {
    out += nlohmann::json(std::string(value))
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  out += '"';
  out += value;
  out += '"';
}

void JsonMembers::key(std::string_view name) {
  if (!first_) out_ += ',';
  first_ = false;
  out_ += '"';
  out_ += name;
  out_ += "\":";
}

void JsonMembers::text(std::string_view name, std::string_view value) {
  key(name);
  append_json_string(out_, value);
}

void JsonMembers::text(std::string_view name, const std::optional<std::string>& value) {
  if (value) text(name, *value);
}

void JsonMembers::number(std::string_view name, long long value) {
  key(name);
  fmt::format_to(std::back_inserter(out_), "{}", value);
}

void JsonMembers::number(std::string_view name, const std::optional<int>& value) {
  if (value) number(name, *value);
}

void JsonMembers::id(std::string_view name, const std::optional<JobId>& value) {
  if (value) text(name, value->str());
}

void JsonMembers::json(std::string_view name, const nlohmann::json& value) {
  key(name);
  out_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace celeriac
