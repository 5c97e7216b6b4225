#include "management_http.hpp"

#include <cstddef>
#include <mutex>
#include <new>
#include <utility>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac::broker {
namespace {

// How much of the broker's own explanation a message repeats.
constexpr std::size_t kMaxReasonLength = 200;

template <typename Value>
void set_option(CURL* handle, CURLoption option, Value value) {
  const CURLcode code = curl_easy_setopt(handle, option, value);
  if (code != CURLE_OK) {
    throw InfrastructureError(fmt::format("management API: libcurl option {}: {}",
                                          static_cast<int>(option), curl_easy_strerror(code)));
  }
}

// libcurl calls this from curl_easy_perform: no exception may cross the C frame,
// and returning less than asked aborts the transfer.
std::size_t append_body(char* data, std::size_t size, std::size_t count, void* target) {
  try {
    static_cast<std::string*>(target)->append(data, size * count);
    return size * count;
  } catch (const std::bad_alloc&) {
    return 0;
  }
}

// The broker's "reason" (or "error") from a JSON error body, shortened. A body
// that is not JSON (a proxy's HTML page) is left out rather than quoted.
std::string broker_reason(const std::string& body) {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) return {};
  for (const char* key : {"reason", "error"}) {
    const auto it = parsed.find(key);
    if (it != parsed.end() && it->is_string()) {
      std::string reason = it->get<std::string>();
      if (reason.size() > kMaxReasonLength) reason.resize(kMaxReasonLength);
      return reason;
    }
  }
  return {};
}

} // namespace

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) {
      throw InfrastructureError(
          fmt::format("management API: curl_global_init: {}", curl_easy_strerror(code)));
    }
  });
}

ManagementHttp::ManagementHttp(ManagementEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  ensure_curl_initialized();
  handle_.reset(curl_easy_init());
  if (!handle_) throw InfrastructureError("management API: curl_easy_init failed");
  // An empty "Expect:" keeps libcurl from waiting for "100 Continue" on larger PUTs.
  curl_slist* list = nullptr;
  for (const char* header :
       {"Accept: application/json", "Content-Type: application/json", "Expect:"}) {
    curl_slist* longer = curl_slist_append(list, header);
    if (longer == nullptr) {
      curl_slist_free_all(list);
      throw std::bad_alloc();
    }
    list = longer;
  }
  headers_.reset(list);
}

std::string ManagementHttp::describe(const char* method, const std::string& path) const {
  // The query (a long "columns=" list) says nothing about what went wrong.
  return fmt::format("{} {}{}", method, endpoint_.redacted_url, path.substr(0, path.find('?')));
}

// Every option, every time: curl_easy_reset forgets the previous request's
// method and body but keeps the connection alive for the next one.
void ManagementHttp::prepare(const char* method, const std::string& url,
                             const std::optional<std::string>& body) {
  curl_easy_reset(handle_.get());
  set_option(handle_.get(), CURLOPT_URL, url.c_str());
  set_option(handle_.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  set_option(handle_.get(), CURLOPT_PATH_AS_IS, 1L); // the path is encoded already: send it as is
  set_option(handle_.get(), CURLOPT_NOSIGNAL,
             1L); // timeouts without SIGALRM: we may run in any thread
  set_option(handle_.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  set_option(handle_.get(), CURLOPT_HTTPHEADER, headers_.get());
  set_option(handle_.get(), CURLOPT_ERRORBUFFER, error_.data());
  set_option(handle_.get(), CURLOPT_WRITEFUNCTION, &append_body);
  set_option(handle_.get(), CURLOPT_WRITEDATA, static_cast<void*>(&response_));
  set_option(handle_.get(), CURLOPT_CUSTOMREQUEST, method);
  if (endpoint_.username) {
    set_option(handle_.get(), CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    set_option(handle_.get(), CURLOPT_USERNAME, endpoint_.username->c_str());
    set_option(handle_.get(), CURLOPT_PASSWORD, endpoint_.password.c_str());
  }
  if (body) {
    set_option(handle_.get(), CURLOPT_POSTFIELDS, body->c_str());
    set_option(handle_.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
}

std::optional<std::string> ManagementHttp::send(const char* method, const std::string& path,
                                                const std::optional<std::string>& body,
                                                NotFound not_found) {
  const std::string url = endpoint_.base_url + path;
  response_.clear();
  error_[0] = '\0';
  prepare(method, url, body);
  const CURLcode code = curl_easy_perform(handle_.get());
  if (code != CURLE_OK) {
    // libcurl's own text names host and port; its generic one is the fallback.
    throw InfrastructureError(
        fmt::format("management API {}: {}", describe(method, path),
                    error_[0] != '\0' ? error_.data() : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(handle_.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return std::move(response_);
  if (status == 404 && not_found == NotFound::kAllow) return std::nullopt;
  throw_status(method, path, status);
}

void ManagementHttp::throw_status(const char* method, const std::string& path, long status) const {
  const std::string reason = broker_reason(response_);
  throw InfrastructureError(fmt::format("management API {}: HTTP {}{}{}", describe(method, path),
                                        status, reason.empty() ? "" : ": ", reason));
}

std::optional<nlohmann::json> ManagementHttp::send_json(const char* method, const std::string& path,
                                                        NotFound not_found) {
  std::optional<std::string> body = send(method, path, std::nullopt, not_found);
  if (!body) return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(*body, nullptr, false);
  if (parsed.is_discarded()) {
    throw InfrastructureError(fmt::format("management API {}: malformed JSON body ({} bytes)",
                                          describe(method, path), body->size()));
  }
  return parsed;
}

} // namespace celeriac::broker
