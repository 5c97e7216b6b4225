// append_json_string(): plain text as it is, anything else escaped, and the
// result always parses back to the text (invalid UTF-8 as U+FFFD).
#include "celeriac/core/json_text.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

using celeriac::append_json_string;

namespace {
std::string as_json(std::string_view value) {
  std::string out = "x";
  append_json_string(out, value);
  return out.substr(1); // appended, not replaced
}
} // namespace

TEST_CASE("plain text is copied between quotes") {
  CHECK(as_json("2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f") ==
        "\"2f1c4d1e-8a7b-4c3d-9e2f-0a1b2c3d4e5f\"");
  CHECK(as_json("") == "\"\"");
}

TEST_CASE("quotes, backslashes, control characters and UTF-8 are escaped and read back") {
  for (const std::string text : {"say \"hi\"", "C:\\path", "tab\tnew\nline", "välue ✓", "\x01"}) {
    CHECK(nlohmann::json::parse(as_json(text)).get<std::string>() == text);
  }
}

TEST_CASE("invalid UTF-8 becomes U+FFFD, still valid JSON") {
  CHECK(nlohmann::json::parse(as_json("bad \xff byte")).get<std::string>() ==
        "bad \xEF\xBF\xBD byte");
}

TEST_CASE("JsonMembers writes members with commas between, and leaves out what has no value") {
  std::string out = "{";
  celeriac::JsonMembers members(out);
  members.text("name", "a \"b\"");
  members.text("absent", std::optional<std::string>());
  members.number("n", -42);
  members.number("none", std::optional<int>());
  members.id("no_id", std::nullopt);
  members.json("list", nlohmann::json::array({1, "x"}));
  out += '}';
  CHECK(nlohmann::json::parse(out) ==
        nlohmann::json{{"name", "a \"b\""}, {"n", -42}, {"list", {1, "x"}}});
}
