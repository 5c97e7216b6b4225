#include "celeriac/store/database_url.hpp"

#include <algorithm>
#include <cstdint>

namespace celeriac::store {

std::string with_connect_timeout(std::string url, std::chrono::milliseconds timeout) {
  const auto seconds =
      std::max<std::int64_t>(2, std::chrono::ceil<std::chrono::seconds>(timeout).count());
  return with_parameter(std::move(url), "connect_timeout", std::to_string(seconds));
}

std::string with_parameter(std::string url, std::string_view key, std::string_view value) {
  if (url.find(std::string(key) + "=") != std::string::npos) return url;
  const bool is_uri = url.starts_with("postgresql://") || url.starts_with("postgres://");
  if (!is_uri) {
    url += ' ';
  } else {
    url += url.find('?') == std::string::npos ? '?' : '&';
  }
  url += key;
  url += '=';
  url += value;
  return url;
}

} // namespace celeriac::store
