#include "celeriac/broker/management_api.hpp"

#include <utility>

#include <fmt/format.h>

#include "celeriac/broker/management_url.hpp"
#include "celeriac/core/error.hpp"
#include "management_http.hpp"

namespace celeriac::broker {
namespace {

using nlohmann::json;

// Only what QueueStats reads: a full queue object carries garbage-collection
// and backing-queue detail worth kilobytes, times every queue of the vhost.
constexpr const char* kQueueColumns =
    "name,type,messages_ready,messages_unacknowledged,consumers,"
    "message_stats.publish_details.rate,message_stats.deliver_get_details.rate,"
    "message_stats.ack_details.rate";

constexpr const char* kConnectionColumns = "name,client_properties.connection_name";

std::int64_t count_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<std::int64_t>() : 0;
}

// message_stats.<KIND>_details.rate, absent until the queue saw such a message.
double rate_field(const json& queue, const std::string& kind) {
  const auto stats = queue.find("message_stats");
  if (stats == queue.end() || !stats->is_object()) return 0;
  const auto details = stats->find(kind + "_details");
  if (details == stats->end() || !details->is_object()) return 0;
  const auto rate = details->find("rate");
  return rate != details->end() && rate->is_number() ? rate->get<double>() : 0;
}

std::string string_field(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void require_name(const char* field, std::string_view value) {
  if (value.empty()) throw InvalidInput(field, "must not be empty");
}

std::string queue_path(std::string_view vhost, std::string_view name) {
  require_name("vhost", vhost);
  require_name("queue", name);
  return fmt::format("/api/queues/{}/{}", encode_path_segment(vhost), encode_path_segment(name));
}

std::string policy_path(std::string_view vhost, std::string_view name) {
  require_name("vhost", vhost);
  require_name("policy", name);
  return fmt::format("/api/policies/{}/{}", encode_path_segment(vhost), encode_path_segment(name));
}

[[noreturn]] void throw_malformed(const ManagementHttp& http, const std::string& path,
                                  const char* expected) {
  throw InfrastructureError(
      fmt::format("management API {}: the answer is not {}", http.describe("GET", path), expected));
}

std::chrono::milliseconds positive(std::chrono::milliseconds timeout) {
  // libcurl reads a zero timeout as "wait forever".
  if (timeout.count() <= 0) throw InvalidInput("timeout", "must be positive");
  return timeout;
}

} // namespace

ManagementApi::ManagementApi(std::string url, std::chrono::milliseconds timeout)
    : http_(std::make_unique<ManagementHttp>(parse_management_url(url), positive(timeout))) {}

ManagementApi::~ManagementApi() = default;
ManagementApi::ManagementApi(ManagementApi&&) noexcept = default;
ManagementApi& ManagementApi::operator=(ManagementApi&&) noexcept = default;

std::optional<QueueStats> ManagementApi::queue(std::string_view vhost, std::string_view name) {
  const std::string path = queue_path(vhost, name) + "?columns=" + kQueueColumns;
  const std::optional<json> body = http_->send_json("GET", path, NotFound::kAllow);
  if (!body) return std::nullopt;
  std::optional<QueueStats> stats = queue_stats_from_json(*body);
  if (!stats) throw_malformed(*http_, path, "a queue");
  return stats;
}

std::vector<QueueStats> ManagementApi::queues(std::string_view vhost) {
  require_name("vhost", vhost);
  const std::string path =
      fmt::format("/api/queues/{}?columns={}", encode_path_segment(vhost), kQueueColumns);
  const json body = *http_->send_json("GET", path, NotFound::kThrow);
  if (!body.is_array()) throw_malformed(*http_, path, "a list of queues");
  std::vector<QueueStats> all;
  all.reserve(body.size());
  for (const json& entry : body) {
    std::optional<QueueStats> stats = queue_stats_from_json(entry);
    if (!stats) throw_malformed(*http_, path, "a list of queues");
    all.push_back(std::move(*stats));
  }
  return all;
}

void ManagementApi::set_dead_letter_policy(std::string_view vhost, std::string_view queue) {
  require_name("queue", queue);
  http_->send("PUT", policy_path(vhost, dead_letter_policy_name(queue)),
              dead_letter_policy_body(queue).dump(), NotFound::kThrow);
}

std::optional<json> ManagementApi::policy(std::string_view vhost, std::string_view name) {
  const std::string path = policy_path(vhost, name);
  std::optional<json> body = http_->send_json("GET", path, NotFound::kAllow);
  if (body && !body->is_object()) throw_malformed(*http_, path, "a policy");
  return body;
}

void ManagementApi::delete_policy(std::string_view vhost, std::string_view name) {
  http_->send("DELETE", policy_path(vhost, name), std::nullopt, NotFound::kAllow);
}

std::vector<ConnectionInfo> ManagementApi::connections() {
  const std::string path = fmt::format("/api/connections?columns={}", kConnectionColumns);
  const json body = *http_->send_json("GET", path, NotFound::kThrow);
  if (!body.is_array()) throw_malformed(*http_, path, "a list of connections");
  std::vector<ConnectionInfo> all;
  for (const json& entry : body) {
    if (!entry.is_object() || !entry.contains("name")) {
      throw_malformed(*http_, path, "a list of connections");
    }
    const auto client = entry.find("client_properties");
    all.push_back({string_field(entry, "name"), client != entry.end() && client->is_object()
                                                    ? string_field(*client, "connection_name")
                                                    : std::string()});
  }
  return all;
}

void ManagementApi::close_connection(std::string_view name) {
  require_name("connection", name);
  http_->send("DELETE", "/api/connections/" + encode_path_segment(name), std::nullopt,
              NotFound::kAllow);
}

std::string dead_letter_policy_name(std::string_view queue) {
  return fmt::format("celeriac-dlx-{}", queue);
}

json dead_letter_policy_body(std::string_view queue) {
  return {
      {"pattern", fmt::format("^{}$", regex_escape(queue))},
      {"apply-to", "queues"},
      {"definition",
       {{"dead-letter-exchange", ""}, {"dead-letter-routing-key", fmt::format("{}.dead", queue)}}},
      {"priority", 0}};
}

std::string regex_escape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    // PCRE reads a backslash before any non-alphanumeric as "this character,
    // literally", so over-escaping is harmless; bytes of UTF-8 characters are
    // left as they are.
    const bool plain = byte >= 0x80 || byte == '_' || (byte >= '0' && byte <= '9') ||
                       (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z');
    if (!plain) escaped.push_back('\\');
    escaped.push_back(c);
  }
  return escaped;
}

std::optional<QueueStats> queue_stats_from_json(const json& queue) {
  if (!queue.is_object()) return std::nullopt;
  const auto name = queue.find("name");
  if (name == queue.end() || !name->is_string()) return std::nullopt;
  QueueStats stats;
  stats.name = name->get<std::string>();
  stats.ready = count_field(queue, "messages_ready");
  stats.unacked = count_field(queue, "messages_unacknowledged");
  stats.consumers = count_field(queue, "consumers");
  stats.publish_rate = rate_field(queue, "publish");
  stats.deliver_rate = rate_field(queue, "deliver_get");
  stats.ack_rate = rate_field(queue, "ack");
  stats.type = string_field(queue, "type");
  return stats;
}

} // namespace celeriac::broker
