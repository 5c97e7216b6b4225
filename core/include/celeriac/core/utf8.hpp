// UTF-8 validity, for text that arrives from outside (AMQP headers carry
// bytes, and JSON output must be valid UTF-8). Pure.
#pragma once

#include <string_view>

namespace celeriac {

// True if TEXT is well-formed UTF-8: no overlong forms, no surrogates, nothing
// past U+10FFFF, no truncated sequences.
bool is_valid_utf8(std::string_view text);

} // namespace celeriac
