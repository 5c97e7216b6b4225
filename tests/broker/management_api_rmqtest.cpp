// ManagementApi against the private broker of scripts/services: queue figures
// after real publishes, the dead-letter policy doing its job, connection
// force-close, and the failures (bad password, nothing listening, a server
// that never answers) surfacing as InfrastructureError without the password.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "celeriac/broker/management_api.hpp"
#include "celeriac/broker/management_url.hpp"
#include "celeriac/core/error.hpp"
#include "test_env.hpp"

namespace {

using celeriac::broker::ManagementApi;
using celeriac::broker::QueueStats;
using namespace std::chrono_literals;

// The management API samples every 5 s by default: wait up to three samples.
constexpr auto kStatsWait = 15s;
constexpr auto kPollInterval = 250ms;

std::string management_url() {
  return celeriac::test::required_env("CELERIAC_MANAGEMENT_URL");
}

// A rabbitmq-c connection on channel 1, optionally named for the management UI.
class AmqpClient {
 public:
  explicit AmqpClient(const std::string& connection_name = "") {
    std::string url = celeriac::test::required_env("CELERIAC_BROKER_URL");
    std::vector<char> text(url.begin(), url.end());
    text.push_back('\0');
    amqp_connection_info info{};
    REQUIRE(amqp_parse_url(text.data(), &info) == AMQP_STATUS_OK);
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    REQUIRE(socket != nullptr);
    REQUIRE(amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK);
    amqp_table_entry_t name_entry{amqp_cstring_bytes("connection_name"), {}};
    name_entry.value.kind = AMQP_FIELD_KIND_UTF8;
    name_entry.value.value.bytes = amqp_cstring_bytes(connection_name.c_str());
    const amqp_table_t properties{connection_name.empty() ? 0 : 1, &name_entry};
    require_ok(amqp_login_with_properties(state_, info.vhost, 0, 131072, 0, &properties,
                                          AMQP_SASL_METHOD_PLAIN, info.user, info.password),
               "login");
    amqp_channel_open(state_, 1);
    require_ok(amqp_get_rpc_reply(state_), "channel.open");
  }
  ~AmqpClient() {
    amqp_channel_close(state_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
  }
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;
  AmqpClient(AmqpClient&&) = delete;
  AmqpClient& operator=(AmqpClient&&) = delete;

  void declare(const std::string& queue) {
    amqp_queue_declare(state_, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
    require_ok(amqp_get_rpc_reply(state_), "queue.declare");
  }
  void remove(const std::string& queue) {
    amqp_queue_delete(state_, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
    require_ok(amqp_get_rpc_reply(state_), "queue.delete");
  }
  // A persistent message; EXPIRATION (ms, as text) when not empty.
  void publish(const std::string& queue, const std::string& body, const char* expiration = "") {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;
    if (*expiration != '\0') {
      props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
      props.expiration = amqp_cstring_bytes(expiration);
    }
    REQUIRE(amqp_basic_publish(state_, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0,
                               &props, amqp_cstring_bytes(body.c_str())) == AMQP_STATUS_OK);
  }
  // basic.get, acked by the broker or by us (ACK): whether a message was there.
  bool take(const std::string& queue, bool ack = false) {
    const amqp_rpc_reply_t reply =
        amqp_basic_get(state_, 1, amqp_cstring_bytes(queue.c_str()), ack ? 0 : 1);
    require_ok(reply, "basic.get");
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return false;
    const auto* get_ok = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
    const std::uint64_t tag = get_ok->delivery_tag;
    amqp_message_t message;
    require_ok(amqp_read_message(state_, 1, &message, 0), "read message");
    amqp_destroy_message(&message);
    if (ack) REQUIRE(amqp_basic_ack(state_, 1, tag, 0) == AMQP_STATUS_OK);
    return true;
  }
  // A passive declare: fails once the broker closed the connection.
  bool alive(const std::string& queue) {
    amqp_queue_declare(state_, 1, amqp_cstring_bytes(queue.c_str()), 1, 0, 0, 0, amqp_empty_table);
    return amqp_get_rpc_reply(state_).reply_type == AMQP_RESPONSE_NORMAL;
  }

 private:
  static void require_ok(amqp_rpc_reply_t reply, const char* what) {
    INFO(what);
    REQUIRE(reply.reply_type == AMQP_RESPONSE_NORMAL);
  }

  amqp_connection_state_t state_ = amqp_new_connection();
};

// A loopback TCP socket bound to an ephemeral port; listening when asked
// (the kernel completes handshakes, nobody ever answers).
class LoopbackSocket {
 public:
  explicit LoopbackSocket(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (listening) REQUIRE(::listen(fd_, 8) == 0);
  }
  ~LoopbackSocket() { ::close(fd_); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;
  LoopbackSocket(LoopbackSocket&&) = delete;
  LoopbackSocket& operator=(LoopbackSocket&&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// Runs CALL, which must throw InfrastructureError; returns its message.
template <typename Call>
std::string infrastructure_error_of(Call&& call) {
  try {
    call();
  } catch (const celeriac::InfrastructureError& error) {
    return error.what();
  }
  FAIL("no InfrastructureError");
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("queue figures follow real publishes; a missing queue is nullopt") {
  AmqpClient amqp;
  // A slash, a space and a '#' prove that names are encoded into the path.
  const std::string queue = celeriac::test::unique_name("celeriac.test.mgmt/ stats#");
  amqp.declare(queue);
  for (int i = 0; i < 3; ++i)
    amqp.publish(queue, "[[], {}, {}]");

  ManagementApi api(management_url());
  std::optional<QueueStats> stats;
  const bool counted = celeriac::test::eventually(
      [&] {
        stats = api.queue("/", queue);
        return stats && stats->ready == 3;
      },
      kStatsWait, kPollInterval);
  REQUIRE(stats.has_value());
  CHECK(counted);
  CHECK(stats->name == queue);
  CHECK(stats->type == "classic");
  CHECK(stats->consumers == 0);
  CHECK(stats->unacked == 0);
  CHECK(stats->publish_rate >= 0);

  const std::vector<QueueStats> all = api.queues("/");
  CHECK(std::any_of(all.begin(), all.end(),
                    [&](const QueueStats& q) { return q.name == queue && q.ready == 3; }));

  CHECK_FALSE(api.queue("/", celeriac::test::unique_name("celeriac.test.mgmt.missing.")));
  CHECK_FALSE(api.queue(celeriac::test::unique_name("no-such-vhost-"), queue));
  amqp.remove(queue);
  CHECK_FALSE(api.queue("/", queue));
}

TEST_CASE("publish, deliver and ack rates come from the broker's message_stats") {
  AmqpClient amqp;
  const std::string queue = celeriac::test::unique_name("celeriac.test.mgmt.rates.");
  amqp.declare(queue);
  ManagementApi api(management_url());
  // Keep traffic flowing until a sample shows all three rates.
  std::optional<QueueStats> stats;
  const bool measured = celeriac::test::eventually(
      [&] {
        for (int i = 0; i < 10; ++i)
          amqp.publish(queue, "[[], {}, {}]");
        for (int i = 0; i < 5; ++i)
          amqp.take(queue, true);
        stats = api.queue("/", queue);
        return stats && stats->publish_rate > 0 && stats->deliver_rate > 0 && stats->ack_rate > 0;
      },
      kStatsWait, kPollInterval);
  REQUIRE(stats.has_value());
  INFO("publish ", stats->publish_rate, " deliver ", stats->deliver_rate, " ack ", stats->ack_rate);
  CHECK(measured);
  amqp.remove(queue);
}

TEST_CASE("the dead-letter policy is set, read back, effective, and deleted") {
  AmqpClient amqp;
  const std::string queue = celeriac::test::unique_name("celeriac.test.mgmt.dlx(a+b).");
  const std::string dead = queue + ".dead";
  amqp.declare(queue);
  amqp.declare(dead);
  ManagementApi api(management_url());
  const std::string name = celeriac::broker::dead_letter_policy_name(queue);

  api.set_dead_letter_policy("/", queue);
  api.set_dead_letter_policy("/", queue); // idempotent
  const std::optional<nlohmann::json> policy = api.policy("/", name);
  REQUIRE(policy.has_value());
  CHECK((*policy)["definition"] == celeriac::broker::dead_letter_policy_body(queue)["definition"]);
  CHECK((*policy)["pattern"] == "^" + celeriac::broker::regex_escape(queue) + "$");
  CHECK((*policy)["apply-to"] == "queues");
  CHECK((*policy)["priority"] == 0);

  // The broker applies policies asynchronously: messages that expire before it
  // did are dropped, so publish until one that expired reaches the dead queue.
  const bool dead_lettered = celeriac::test::eventually(
      [&] {
        amqp.publish(queue, "[[], {}, {}]", "1");
        return amqp.take(dead);
      },
      5s, 50ms);
  CHECK(dead_lettered);

  api.delete_policy("/", name);
  CHECK_FALSE(api.policy("/", name).has_value());
  api.delete_policy("/", name); // already gone: fine
  amqp.remove(queue);
  amqp.remove(dead);
}

TEST_CASE("a connection is listed by its client name and can be force-closed") {
  const std::string client_name = celeriac::test::unique_name("celeriac-test-mgmt-");
  const std::string probe = celeriac::test::unique_name("celeriac.test.mgmt.probe.");
  AmqpClient amqp(client_name);
  amqp.declare(probe);
  ManagementApi api(management_url());

  std::string broker_name;
  CHECK(celeriac::test::eventually(
      [&] {
        for (const auto& connection : api.connections()) {
          if (connection.connection_name == client_name) broker_name = connection.name;
        }
        return !broker_name.empty();
      },
      kStatsWait, kPollInterval));
  REQUIRE_FALSE(broker_name.empty());

  api.close_connection(broker_name);
  CHECK_FALSE(amqp.alive(probe));
  api.close_connection(broker_name); // already gone: fine

  AmqpClient cleanup;
  cleanup.remove(probe);
}

TEST_CASE("a wrong password is an InfrastructureError naming 401, never the password") {
  const auto endpoint = celeriac::broker::parse_management_url(management_url());
  const std::string secret = celeriac::test::unique_name("not-the-password-");
  const auto scheme_end = endpoint.base_url.find("://") + 3;
  const std::string url = endpoint.base_url.substr(0, scheme_end) + "guest:" + secret + "@" +
                          endpoint.base_url.substr(scheme_end);
  ManagementApi api(url);

  const std::string message = infrastructure_error_of([&] { api.queues("/"); });
  INFO(message);
  CHECK(contains(message, "401"));
  CHECK(contains(message, "GET"));
  CHECK(contains(message, "/api/queues/%2F"));
  CHECK(contains(message, "guest:****@"));
  CHECK_FALSE(contains(message, secret));
}

TEST_CASE("nothing listening is an InfrastructureError well within the timeout") {
  const int port = LoopbackSocket(false).port(); // bound, then closed: refused
  ManagementApi api("http://guest:hunter2@127.0.0.1:" + std::to_string(port), 2s);
  const auto start = std::chrono::steady_clock::now();
  const std::string message = infrastructure_error_of([&] { api.queue("/", "q"); });
  INFO(message);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(contains(message, "/api/queues/%2F/q"));
  CHECK_FALSE(contains(message, "hunter2"));
}

TEST_CASE("a server that never answers is cut off at the timeout") {
  LoopbackSocket silent(true);
  ManagementApi api("http://127.0.0.1:" + std::to_string(silent.port()), 300ms);
  const auto start = std::chrono::steady_clock::now();
  const std::string message = infrastructure_error_of([&] { api.policy("/", "p"); });
  const auto elapsed = std::chrono::steady_clock::now() - start;
  INFO(message);
  CHECK(elapsed >= 250ms);
  CHECK(elapsed < 3s);
  CHECK(contains(message, "timed out"));
}
