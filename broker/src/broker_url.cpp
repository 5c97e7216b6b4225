#include "celeriac/broker/broker_url.hpp"

#include <amqp.h>
#include <fmt/format.h>

#include <vector>

#include "celeriac/core/error.hpp"

namespace celeriac::broker {
namespace {

std::string percent_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02x}", c);
    }
  }
  return out;
}

} // namespace

BrokerUrl BrokerUrl::parse(std::string_view url) {
  if (!url.starts_with("amqp://") && !url.starts_with("amqps://")) {
    throw InvalidInput("broker.url", "must start with amqp:// or amqps://");
  }
  // amqp_parse_url edits its buffer in place and points into it.
  std::vector<char> buffer(url.begin(), url.end());
  buffer.push_back('\0');
  amqp_connection_info info{};
  amqp_default_connection_info(&info);
  if (amqp_parse_url(buffer.data(), &info) != AMQP_STATUS_OK) {
    throw InvalidInput("broker.url", "is not amqp[s]://[user[:password]@]host[:port][/vhost]");
  }
  BrokerUrl out;
  out.user = info.user;
  out.password = info.password;
  out.host = info.host;
  out.port = info.port;
  out.vhost = info.vhost;
  out.tls = info.ssl != 0;
  if (out.host.empty()) throw InvalidInput("broker.url", "has no host");
  return out;
}

std::string BrokerUrl::redacted() const {
  return fmt::format("{}://{}:****@{}:{}/{}", tls ? "amqps" : "amqp", percent_encode(user), host,
                     port, percent_encode(vhost));
}

} // namespace celeriac::broker
