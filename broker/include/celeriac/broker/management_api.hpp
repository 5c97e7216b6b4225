// A client of RabbitMQ's management HTTP API (libcurl): queue statistics for
// the queue monitor, the dead-letter policy of DESIGN.md's topology, and the
// connection list that tests use to force-close a connection.
//
// Threading: an instance owns one libcurl handle (its kept-alive connection)
// and must be used from one thread at a time; separate instances are
// independent. Every call blocks for up to the timeout, so a libuv loop thread
// (the worker's, the scheduler's) must never make one: call from a thread of
// your own.
// Errors: a transport failure, an HTTP status other than 2xx (and the 404s
// documented below) or a malformed body throws InfrastructureError naming the
// method, the URL with its password replaced by "****", and the status. An
// empty queue or policy name throws InvalidInput.
// Freshness: the broker refreshes the figures every collect_statistics_interval
// (5 s by default), so they lag by up to that, and a queue that has not been
// sampled yet reports zeros.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace celeriac::broker {

class ManagementHttp;

struct QueueStats {
  std::string name;
  std::int64_t ready = 0;
  std::int64_t unacked = 0;
  std::int64_t consumers = 0;
  // Messages per second over the broker's last sample, 0 when it has none.
  // deliver_rate counts everything that leaves the queue (deliveries with and
  // without acks, basic.get): the drain rate that scaling needs.
  double publish_rate = 0;
  double deliver_rate = 0;
  double ack_rate = 0;
  std::string type; // "classic", "quorum", "stream"
};

struct ConnectionInfo {
  std::string name;            // the broker's name, e.g. "127.0.0.1:5123 -> 127.0.0.1:5672"
  std::string connection_name; // the client's "connection_name" property, "" when not given
};

class ManagementApi {
 public:
  // URL is http(s)://[user:pass@]host:port[/prefix]; without credentials the
  // requests carry no authentication. TIMEOUT (> 0) bounds each request from
  // connect to last byte. Throws InvalidInput for a bad URL or timeout.
  explicit ManagementApi(std::string url,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~ManagementApi();
  ManagementApi(ManagementApi&& other) noexcept;
  ManagementApi& operator=(ManagementApi&& other) noexcept;
  ManagementApi(const ManagementApi&) = delete;
  ManagementApi& operator=(const ManagementApi&) = delete;

  // nullopt when the queue (or the vhost) does not exist.
  std::optional<QueueStats> queue(std::string_view vhost, std::string_view name);
  // Every queue of VHOST, in the broker's order.
  std::vector<QueueStats> queues(std::string_view vhost);

  // Makes the broker dead-letter what it drops from QUEUE itself (expiry,
  // overflow) to "<queue>.dead" through the default exchange, with the policy
  // dead_letter_policy_name(QUEUE). Idempotent. The caller declares the dead
  // queue. RabbitMQ applies one policy per queue, the matching one of highest
  // priority: an operator's policy of priority > 0 over QUEUE replaces this one
  // (priority 0) entirely, so such a policy must carry the dead-lettering itself.
  void set_dead_letter_policy(std::string_view vhost, std::string_view queue);
  // The policy as the broker reports it (vhost, name, pattern, apply-to,
  // definition, priority), nullopt when it does not exist.
  std::optional<nlohmann::json> policy(std::string_view vhost, std::string_view name);
  // A missing policy is not an error.
  void delete_policy(std::string_view vhost, std::string_view name);

  // All client connections of the broker (every vhost).
  std::vector<ConnectionInfo> connections();
  // Closes connection NAME (the client sees CONNECTION_FORCED); a connection
  // that is already gone is not an error.
  void close_connection(std::string_view name);

 private:
  std::unique_ptr<ManagementHttp> http_;
};

// The pure parts, public for tests.

// "celeriac-dlx-<queue>".
std::string dead_letter_policy_name(std::string_view queue);
// The body of the PUT that set_dead_letter_policy sends.
nlohmann::json dead_letter_policy_body(std::string_view queue);
// QUEUE as a regular expression (PCRE, RabbitMQ's) matching exactly itself:
// every ASCII character but letters, digits and '_' escaped.
std::string regex_escape(std::string_view text);
// One queue object of the API, nullopt when it is not an object with a string
// "name". Missing figures read as 0 (the broker omits them until it sampled).
std::optional<QueueStats> queue_stats_from_json(const nlohmann::json& queue);

} // namespace celeriac::broker
