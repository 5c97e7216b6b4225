// Broker URLs: amqp://user:pass@host:port/vhost and amqps:// (TLS). The vhost
// is percent-decoded ("%2f" is "/"). Passwords never reach logs or errors:
// print redacted() instead of the URL.
#pragma once

#include <string>
#include <string_view>

namespace celeriac::broker {

struct TlsOptions {
  std::string ca_cert;     // PEM file of trusted CAs; empty: the system's
  std::string client_cert; // PEM client certificate, with client_key, for mutual TLS
  std::string client_key;
  bool verify_peer = true;
  bool verify_hostname = true;
};

struct BrokerUrl {
  std::string user = "guest";
  std::string password = "guest";
  std::string host = "localhost";
  int port = 5672;
  std::string vhost = "/";
  bool tls = false;

  // Throws InvalidInput("broker.url", ...) naming what is wrong, without the password.
  static BrokerUrl parse(std::string_view url);
  // "amqp://guest:****@localhost:5672/%2f"
  std::string redacted() const;
};

} // namespace celeriac::broker
