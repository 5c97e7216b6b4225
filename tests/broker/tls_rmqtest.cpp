// amqps:// against the private broker's TLS listener, whose certificate comes
// from the private CA of scripts/services and names "localhost" only.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/publisher.hpp"
#include "loop_runner.hpp"
#include "test_env.hpp"

using namespace celeriac;
using namespace celeriac::broker;
using namespace std::chrono_literals;

namespace {

ConnectionOptions tls_options() {
  ConnectionOptions options;
  options.url = test::required_env("CELERIAC_BROKER_TLS_URL");
  options.tls.ca_cert = test::required_env("CELERIAC_TLS_CA");
  options.timeout = 5s;
  return options;
}

// Opens a connection with OPTIONS; returns "" on success or the error text.
std::string open_error(const ConnectionOptions& options) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string error;
  {
    Connection connection(&loop, options, {});
    try {
      connection.open();
    } catch (const InfrastructureError& e) {
      error = e.what();
    }
  }
  CHECK(test::close_loop(&loop) == 0);
  return error;
}

} // namespace

TEST_CASE("amqps with the CA, peer and hostname verified: publishes confirm") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    std::unique_ptr<Publisher> publisher;
    Connection connection(&loop, tls_options(),
                          Connection::Handlers{.on_method =
                                                   [&](amqp_channel_t ch, const amqp_method_t& m) {
                                                     if (ch == 1) publisher->on_method(m);
                                                   },
                                               .on_message =
                                                   [&](amqp_channel_t, InboundMessage&& m) {
                                                     publisher->on_return(std::move(m));
                                                   },
                                               .on_lost = {}});
    publisher = std::make_unique<Publisher>(connection, 1, 10);
    connection.open();
    publisher->start();
    std::optional<PublishResult> result;
    Message m;
    m.body = "[[], {}, {}]";
    // The default exchange with a missing queue: returned, which proves a round trip.
    publisher->publish(Outgoing{"", test::unique_name("celeriac.test.tls."), m,
                                [&](const PublishResult& r) { result = r; }});
    REQUIRE(test::run_until(
        &loop, [&] { return result.has_value(); }, 10s));
    CHECK(result->status == PublishStatus::Returned);
    publisher->stop("done");
    connection.close();
  }
  CHECK(test::close_loop(&loop) == 0);
}

TEST_CASE("hostname verification: 127.0.0.1 is not in the certificate") {
  ConnectionOptions options = tls_options();
  const BrokerUrl url = BrokerUrl::parse(options.url);
  options.url = fmt::format("amqps://guest:guest@127.0.0.1:{}/%2f", url.port);
  const std::string error = open_error(options);
  CHECK(error.find("cannot connect to amqps://guest:****@127.0.0.1") != std::string::npos);
  options.tls.verify_hostname = false;
  CHECK(open_error(options).empty());
}

TEST_CASE("peer verification: a server from an unknown CA is refused") {
  ConnectionOptions options = tls_options();
  options.tls.ca_cert.clear(); // the system's CAs do not know the private one
  CHECK_FALSE(open_error(options).empty());
  options.tls.verify_peer = false;
  options.tls.verify_hostname = false;
  CHECK(open_error(options).empty());
}

TEST_CASE("client certificates: used when given; unreadable files are a clear error") {
  ConnectionOptions options = tls_options();
  options.tls.client_cert = test::required_env("CELERIAC_TLS_CLIENT_CERT");
  options.tls.client_key = test::required_env("CELERIAC_TLS_CLIENT_KEY");
  CHECK(open_error(options).empty());
  options.tls.client_key = "/nonexistent/client.key";
  CHECK(open_error(options) ==
        fmt::format("cannot read client certificate '{}' or its key", options.tls.client_cert));
  options = tls_options();
  options.tls.ca_cert = "/nonexistent/ca.pem";
  CHECK(open_error(options) == "cannot read CA certificate '/nonexistent/ca.pem'");
}
