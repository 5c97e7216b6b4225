#include "celeriac/core/utf8.hpp"

#include <cstdint>

namespace celeriac {
namespace {

// Length of the sequence that lead byte C starts, and the smallest code point
// such a sequence may encode (anything below is overlong); 0 for an invalid lead.
struct Lead {
  int length;
  std::uint32_t minimum;
};

Lead lead(unsigned char c) {
  if (c < 0x80) return {1, 0};
  if ((c & 0xE0) == 0xC0) return {2, 0x80};
  if ((c & 0xF0) == 0xE0) return {3, 0x800};
  if ((c & 0xF8) == 0xF0) return {4, 0x10000};
  return {0, 0};
}

} // namespace

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const Lead l = lead(c);
    if (l.length == 0 || i + static_cast<std::size_t>(l.length) > text.size()) return false;
    std::uint32_t cp = l.length == 1 ? c : c & (0x7F >> l.length);
    for (int k = 1; k < l.length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + static_cast<std::size_t>(k)]);
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    if (cp < l.minimum || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<std::size_t>(l.length);
  }
  return true;
}

} // namespace celeriac
