// The pure URL handling of the RabbitMQ management API client (management_api.hpp).
//
// A management URL carries its credentials ("http://user:pass@host:15672", maybe
// with a path prefix when the plugin sits behind a proxy). They are split off
// here so that no URL handed to libcurl or written into a message holds the
// password: messages use redacted_url, where the password reads "****".
// No I/O; parse_management_url throws InvalidInput, the rest never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace celeriac::broker {

struct ManagementEndpoint {
  // scheme://host:port[/prefix]: no credentials, no trailing '/', ready for "/api/...".
  std::string base_url;
  // base_url with "user:****@" (or "user@") when the URL had credentials: for messages.
  std::string redacted_url;
  // Percent-decoded credentials; no username means no authentication at all.
  std::optional<std::string> username;
  std::string password;
};

// Splits URL_TEXT (http or https, no query or fragment). Throws InvalidInput on the
// field "broker.management_url" whose reason never repeats the URL.
ManagementEndpoint parse_management_url(std::string_view url_text);

// SEGMENT as one path segment: everything but RFC 3986 unreserved characters
// percent-encoded ("/" is "%2F"), and the dot-segments "." and ".." fully
// encoded so that nothing between us and the broker can collapse them.
std::string encode_path_segment(std::string_view segment);

} // namespace celeriac::broker
