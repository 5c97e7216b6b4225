// "host:port" as the daemons' --http flags take it ("127.0.0.1:9100",
// "[::1]:9100"; port 0 asks the system for a free one).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace celeriac {

struct HostPort {
  std::string host;
  int port = 0;
};

// TEXT split at its last colon; nullopt unless the host is non-empty and the
// port is a decimal number from 0 to 65535.
std::optional<HostPort> parse_host_port(std::string_view text);

} // namespace celeriac
