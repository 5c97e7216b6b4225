#include "celeriac/broker/management_url.hpp"

#include <memory>
#include <utility>

#include <curl/curl.h>
#include <fmt/format.h>

#include "celeriac/core/error.hpp"
#include "management_http.hpp"

namespace celeriac::broker {
namespace {

constexpr const char* kField = "broker.management_url";

struct UrlCleanup {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using Url = std::unique_ptr<CURLU, UrlCleanup>;

struct PartCleanup {
  void operator()(char* part) const { curl_free(part); }
};

// PART of URL, percent-decoded when DECODE; nullopt when the URL has none.
std::optional<std::string> url_part(const Url& url, CURLUPart part, bool decode) {
  char* raw = nullptr;
  const CURLUcode code = curl_url_get(url.get(), part, &raw, decode ? CURLU_URLDECODE : 0);
  std::unique_ptr<char, PartCleanup> owned(raw);
  if (code != CURLUE_OK || raw == nullptr) return std::nullopt;
  return std::string(raw);
}

void set_part(const Url& url, CURLUPart part, const char* value) {
  if (curl_url_set(url.get(), part, value, 0) != CURLUE_OK) {
    throw InvalidInput(kField, "cannot be rebuilt without its credentials");
  }
}

// PARSED without query, fragment or password (USER and, when HAD_PASSWORD,
// "****" in its place), and without the trailing '/' so that paths append cleanly.
std::string rebuilt(const Url& parsed, const std::optional<std::string>& user, bool had_password) {
  Url copy(curl_url_dup(parsed.get()));
  if (!copy) throw std::bad_alloc();
  set_part(copy, CURLUPART_USER, user ? user->c_str() : nullptr);
  set_part(copy, CURLUPART_PASSWORD, user && had_password ? "****" : nullptr);
  std::string text = url_part(copy, CURLUPART_URL, false).value_or("");
  while (!text.empty() && text.back() == '/')
    text.pop_back();
  return text;
}

Url parse(std::string_view text) {
  ensure_curl_initialized();
  Url url(curl_url());
  if (!url) throw std::bad_alloc();
  const std::string copy(text);
  // The reason never quotes the URL: it may hold a password.
  const CURLUcode code = curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), 0);
  if (code != CURLUE_OK) {
    throw InvalidInput(kField, fmt::format("is not a valid URL ({})", curl_url_strerror(code)));
  }
  return url;
}

} // namespace

ManagementEndpoint parse_management_url(std::string_view url_text) {
  const Url url = parse(url_text);
  const std::string scheme = url_part(url, CURLUPART_SCHEME, false).value_or("");
  if (scheme != "http" && scheme != "https") {
    throw InvalidInput(kField, "must start with http:// or https://");
  }
  if (url_part(url, CURLUPART_QUERY, false) || url_part(url, CURLUPART_FRAGMENT, false)) {
    throw InvalidInput(kField, "must not have a query or fragment");
  }
  ManagementEndpoint endpoint;
  endpoint.username = url_part(url, CURLUPART_USER, true);
  const std::optional<std::string> password = url_part(url, CURLUPART_PASSWORD, true);
  endpoint.password = password.value_or("");
  endpoint.base_url = rebuilt(url, std::nullopt, false);
  endpoint.redacted_url = rebuilt(url, url_part(url, CURLUPART_USER, false), password.has_value());
  return endpoint;
}

std::string encode_path_segment(std::string_view segment) {
  const bool dot_segment = segment == "." || segment == "..";
  std::string encoded;
  encoded.reserve(segment.size());
  for (const char c : segment) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || byte == '-' || byte == '_' ||
                            byte == '~' || (byte == '.' && !dot_segment);
    if (unreserved) {
      encoded.push_back(c);
    } else {
      encoded += fmt::format("%{:02X}", byte);
    }
  }
  return encoded;
}

} // namespace celeriac::broker
