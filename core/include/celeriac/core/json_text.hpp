// Writing JSON text straight into a buffer, for a hot path that builds a
// document as text instead of as an nlohmann DOM (the store's batch rows).
// Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "celeriac/core/job_id.hpp"

namespace celeriac {

// Appends VALUE to OUT as a JSON string. Printable ASCII without a quote or a
// backslash, which ids, names and times are, is copied as it is; anything else
// goes through the JSON library's escaping, invalid UTF-8 replaced by U+FFFD.
void append_json_string(std::string& out, std::string_view value);

// The members of one JSON object, appended to OUT as "key":value with a comma
// before all but the first; the caller writes the braces. Keys are the
// caller's own names and are not escaped. An optional without a value writes
// no member at all.
class JsonMembers {
 public:
  explicit JsonMembers(std::string& out) : out_(out) {}

  void text(std::string_view key, std::string_view value);
  void text(std::string_view key, const std::string& value) { text(key, std::string_view(value)); }
  void text(std::string_view key, const char* value) { text(key, std::string_view(value)); }
  void text(std::string_view key, const std::optional<std::string>& value);
  void number(std::string_view key, long long value);
  void number(std::string_view key, const std::optional<int>& value);
  void id(std::string_view key, const std::optional<JobId>& value);
  // Any JSON value; invalid UTF-8 in it is replaced, not thrown on (an error
  // message from a task may hold some).
  void json(std::string_view key, const nlohmann::json& value);

 private:
  void key(std::string_view name);

  std::string& out_;
  bool first_ = true;
};

} // namespace celeriac
