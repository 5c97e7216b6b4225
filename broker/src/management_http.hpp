// The HTTP exchange under ManagementApi: one libcurl easy handle, its requests
// and the mapping of failures to InfrastructureError. Same contract as
// management_api.hpp (one thread at a time, blocking up to the timeout).
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "celeriac/broker/management_url.hpp"

namespace celeriac::broker {

// curl_global_init, once per process, before any other libcurl call.
void ensure_curl_initialized();

// Whether a 404 answer is a normal outcome (the object does not exist).
enum class NotFound { kThrow, kAllow };

class ManagementHttp {
 public:
  ManagementHttp(ManagementEndpoint endpoint, std::chrono::milliseconds timeout);

  // Sends METHOD to base URL + PATH (already encoded), with BODY as JSON when
  // given. Returns the body of a 2xx answer, or nullopt for a 404 when
  // NOT_FOUND is kAllow; throws InfrastructureError otherwise.
  std::optional<std::string> send(const char* method, const std::string& path,
                                  const std::optional<std::string>& body, NotFound not_found);
  // send() with the answer parsed; a malformed body throws InfrastructureError.
  std::optional<nlohmann::json> send_json(const char* method, const std::string& path,
                                          NotFound not_found);

  // "METHOD <redacted url><path without query>": how messages name a request.
  std::string describe(const char* method, const std::string& path) const;

 private:
  void prepare(const char* method, const std::string& url, const std::optional<std::string>& body);
  [[noreturn]] void throw_status(const char* method, const std::string& path, long status) const;

  ManagementEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  struct HandleCleanup {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
  };
  struct HeadersCleanup {
    void operator()(curl_slist* headers) const { curl_slist_free_all(headers); }
  };

  std::unique_ptr<CURL, HandleCleanup> handle_;
  std::unique_ptr<curl_slist, HeadersCleanup> headers_;
  std::string response_;
  std::array<char, CURL_ERROR_SIZE> error_{};
};

} // namespace celeriac::broker
