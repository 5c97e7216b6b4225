#include "celeriac/store/database_url.hpp"

#include <algorithm>
#include <cstdint>

namespace celeriac::store {

std::string with_connect_timeout(std::string url, std::chrono::milliseconds timeout) {
  if (url.find("connect_timeout=") != std::string::npos) return url;
  const auto seconds =
      std::max<std::int64_t>(2, std::chrono::ceil<std::chrono::seconds>(timeout).count());
  const bool is_uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  if (!is_uri) return url + " connect_timeout=" + std::to_string(seconds);
  url += url.find('?') == std::string::npos ? '?' : '&';
  return url + "connect_timeout=" + std::to_string(seconds);
}

} // namespace celeriac::store
