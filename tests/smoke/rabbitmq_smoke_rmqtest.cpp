// Proves the RabbitMQ tier works: the private broker from scripts/services is
// reachable with rabbitmq-c, and one persistent message makes a round trip
// through a uniquely named queue that is deleted afterwards.
#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "test_env.hpp"

namespace {

void require_ok(amqp_rpc_reply_t reply, const char* what) {
  INFO(what);
  REQUIRE(reply.reply_type == AMQP_RESPONSE_NORMAL);
}

struct Connection {
  amqp_connection_state_t state = amqp_new_connection();
  ~Connection() {
    amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(state, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state);
  }
};

void open(Connection& conn) {
  std::string url = celeriac::test::required_env("CELERIAC_BROKER_URL");
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  REQUIRE(amqp_parse_url(buffer.data(), &info) == AMQP_STATUS_OK);

  amqp_socket_t* socket = amqp_tcp_socket_new(conn.state);
  REQUIRE(socket != nullptr);
  REQUIRE(amqp_socket_open(socket, info.host, info.port) == AMQP_STATUS_OK);
  require_ok(amqp_login(conn.state, info.vhost, 0, 131072, 60, AMQP_SASL_METHOD_PLAIN, info.user,
                        info.password),
             "login");
  amqp_channel_open(conn.state, 1);
  require_ok(amqp_get_rpc_reply(conn.state), "channel.open");
}

} // namespace

TEST_CASE("a persistent message round-trips through a private queue") {
  Connection conn;
  open(conn);
  const std::string queue = celeriac::test::unique_name("celeriac.test.smoke.");
  amqp_queue_declare(conn.state, 1, amqp_cstring_bytes(queue.c_str()), 0, 1, 0, 0,
                     amqp_empty_table);
  require_ok(amqp_get_rpc_reply(conn.state), "queue.declare");

  const std::string body = R"([[2, 3], {}, {}])";
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.delivery_mode = 2;
  props.content_type = amqp_cstring_bytes("application/json");
  REQUIRE(amqp_basic_publish(conn.state, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0,
                             0, &props, amqp_cstring_bytes(body.c_str())) == AMQP_STATUS_OK);

  // basic.get until the message is there: publishing is asynchronous.
  std::string received;
  const bool got = celeriac::test::eventually(
      [&] {
        amqp_rpc_reply_t reply =
            amqp_basic_get(conn.state, 1, amqp_cstring_bytes(queue.c_str()), 1);
        REQUIRE(reply.reply_type == AMQP_RESPONSE_NORMAL);
        if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return false;
        amqp_message_t message;
        REQUIRE(amqp_read_message(conn.state, 1, &message, 0).reply_type == AMQP_RESPONSE_NORMAL);
        received.assign(static_cast<const char*>(message.body.bytes), message.body.len);
        CHECK(message.properties.delivery_mode == 2);
        amqp_destroy_message(&message);
        return true;
      },
      std::chrono::seconds(5));
  CHECK(got);
  CHECK(received == body);

  amqp_queue_delete(conn.state, 1, amqp_cstring_bytes(queue.c_str()), 0, 0);
  require_ok(amqp_get_rpc_reply(conn.state), "queue.delete");
}
