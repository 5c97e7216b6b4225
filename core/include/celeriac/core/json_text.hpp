// Writing JSON text straight into a buffer, for the hot paths that build a
// document as text instead of as an nlohmann DOM (the store's batch rows, the
// process pool's job frames). Pure.
#pragma once

#include <string>
#include <string_view>

namespace celeriac {

// Appends VALUE to OUT as a JSON string. Printable ASCII without a quote or a
// backslash, which ids, names and times are, is copied as it is; anything else
// goes through the JSON library's escaping, invalid UTF-8 replaced by U+FFFD.
void append_json_string(std::string& out, std::string_view value);

} // namespace celeriac
