// Fuzzes the Celery protocol decoder with hostile messages.
// Input: a JSON object of headers, a blank line ("\n\n"), then the body bytes.
// Input without the separator, or whose headers are not a JSON object, goes in
// as a body under valid demo.add headers. Invariants: decode either succeeds or
// throws DecodeError; a decoded job re-encodes and decodes to a stable job.
#include <cstdint>
#include <string>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/error.hpp"

namespace {

celeriac::HeaderTable default_headers() {
  return celeriac::HeaderTable{{"task", "demo.add"},
                               {"id", "8f2939de-b4c7-4c6c-9e95-26de686d15d9"}};
}

celeriac::Message message_from(const std::string& input) {
  celeriac::Message m;
  m.headers = default_headers();
  m.body = input;
  const auto split = input.find("\n\n");
  if (split == std::string::npos) return m;
  auto headers = nlohmann::json::parse(input.substr(0, split), nullptr, false);
  if (headers.is_object()) {
    auto table = celeriac::header_from_json(headers);
    m.headers = *table.get_if<celeriac::HeaderTable>();
    m.body = input.substr(split + 2);
  }
  return m;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const celeriac::Message message = message_from(input);
  celeriac::Job first;
  try {
    first = celeriac::decode_job(message, "fuzz");
  } catch (const celeriac::DecodeError&) {
    return 0;
  }
  // Encoding fills in defaults (argsrepr); from then on the round trip is exact.
  const celeriac::Job second = celeriac::decode_job(celeriac::encode_job(first), "fuzz");
  const celeriac::Job third = celeriac::decode_job(celeriac::encode_job(second), "fuzz");
  if (!(second == third)) __builtin_trap();
  if (second.id != first.id || second.task != first.task) __builtin_trap();
  // Whatever decodes must be writable as JSON (records, events, logs): dump() throws otherwise.
  (void)nlohmann::json{{"task", second.task},
                       {"origin", second.origin.value_or("")},
                       {"shadow", second.shadow.value_or("")}}
      .dump();
  (void)celeriac::to_json(second.extra_headers).dump();
  return 0;
}
