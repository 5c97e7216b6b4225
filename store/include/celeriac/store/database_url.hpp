// Database URLs as celeriac hands them to libpq.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace celeriac::store {

// URL with libpq's connect_timeout added unless it sets one: libpq otherwise
// waits for a host that does not answer as long as the kernel does. TIMEOUT
// is rounded up to whole seconds, at least 2 (libpq's minimum). Works for
// URIs (postgresql://...) and for keyword=value strings.
std::string with_connect_timeout(std::string url,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

// URL with libpq parameter KEY=VALUE added unless it sets KEY already. VALUE
// must need no quoting or escaping (letters, digits, "-_.:/@").
std::string with_parameter(std::string url, std::string_view key, std::string_view value);

} // namespace celeriac::store
