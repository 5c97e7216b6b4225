#include <doctest/doctest.h>

#include "celeriac/core/utf8.hpp"

using celeriac::is_valid_utf8;

TEST_CASE("well-formed UTF-8 is accepted") {
  for (const char* good : {"", "ascii", "Ünïcødé", "✓ 日本", "🚀", "\x7f", "\xf4\x8f\xbf\xbf"}) {
    INFO(good);
    CHECK(is_valid_utf8(good));
  }
}

TEST_CASE("malformed UTF-8 is refused") {
  for (const char* bad : {"\xff", "\x80", "\xc0\xaf",   // invalid lead, lone continuation, overlong
                          "\xe0\x80\xaf",               // overlong 3-byte
                          "\xed\xa0\x80",               // surrogate
                          "\xf4\x90\x80\x80",           // beyond U+10FFFF
                          "\xe2\x9c", "abc\xf0\x9f"}) { // truncated
    INFO(bad);
    CHECK_FALSE(is_valid_utf8(bad));
  }
}
