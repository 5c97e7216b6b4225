// Fuzzes the control-message decoder (what any client can broadcast to every
// worker on celeriac.control). Invariants: decode either succeeds or throws
// DecodeError; a decoded request re-encodes and decodes to the same request.
#include <cstdint>
#include <string>

#include "celeriac/core/control.hpp"
#include "celeriac/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  celeriac::ControlRequest first;
  try {
    first = celeriac::decode_control(input);
  } catch (const celeriac::DecodeError&) {
    return 0;
  }
  const celeriac::ControlRequest second = celeriac::decode_control(celeriac::encode_control(first));
  if (second.method != first.method || second.arguments != first.arguments ||
      second.destination != first.destination || second.ticket != first.ticket ||
      second.reply_to.has_value() != first.reply_to.has_value())
    __builtin_trap();
  (void)celeriac::addressed_to(second, "w:1");
  try {
    (void)celeriac::decode_control_reply(input);
  } catch (const celeriac::DecodeError&) {
  }
  return 0;
}
