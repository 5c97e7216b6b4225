#include "celeriac/core/host_port.hpp"

#include <charconv>

namespace celeriac {

std::optional<HostPort> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view port = text.substr(colon + 1);
  int number = -1;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (error != std::errc() || end != port.data() + port.size() || number < 0 || number > 65535) {
    return std::nullopt;
  }
  HostPort out;
  out.host = std::string(text.substr(0, colon));
  out.port = number;
  return out;
}

} // namespace celeriac
