// libFuzzer target for parse_config: any bytes must either parse or be refused
// with an InvalidInput (ConfigError); anything else escaping, a crash or a
// sanitizer report is a bug. What parses must also survive to_json and dump,
// since `celeriac config check` prints exactly that.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "celeriac/core/config.hpp"
#include "celeriac/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const celeriac::Config config = celeriac::parse_config(text, "fuzz.toml");
    static_cast<void>(celeriac::to_json(config).dump());
    static_cast<void>(celeriac::to_json(config, false).dump());
    for (const celeriac::TaskConfig& task : config.tasks)
      static_cast<void>(config.task(task.pattern));
  } catch (const celeriac::InvalidInput&) {
    // Refused input: the expected outcome for most bytes.
  }
  return 0;
}
