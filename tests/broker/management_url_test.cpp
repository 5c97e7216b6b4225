// The pure parts of the management API client: URL splitting and redaction,
// path encoding, the dead-letter policy body, and reading queue objects as the
// broker (RabbitMQ 3.10) writes them.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>

#include "celeriac/broker/management_api.hpp"
#include "celeriac/broker/management_url.hpp"
#include "celeriac/core/error.hpp"

using celeriac::broker::dead_letter_policy_body;
using celeriac::broker::dead_letter_policy_name;
using celeriac::broker::encode_path_segment;
using celeriac::broker::parse_management_url;
using celeriac::broker::queue_stats_from_json;
using celeriac::broker::regex_escape;
using nlohmann::json;

TEST_CASE("a management URL is split into base, credentials and a redacted form") {
  const auto endpoint = parse_management_url("http://guest:s3cret@127.0.0.1:15672");
  CHECK(endpoint.base_url == "http://127.0.0.1:15672");
  CHECK(endpoint.redacted_url == "http://guest:****@127.0.0.1:15672");
  REQUIRE(endpoint.username.has_value());
  CHECK(*endpoint.username == "guest");
  CHECK(endpoint.password == "s3cret");
}

TEST_CASE("credentials are percent-decoded and a path prefix is kept") {
  const auto endpoint = parse_management_url("https://ops%40corp:p%2Fw%3A@mq.example:443/rabbit/");
  CHECK(endpoint.base_url == "https://mq.example:443/rabbit");
  CHECK(endpoint.redacted_url == "https://ops%40corp:****@mq.example:443/rabbit");
  CHECK(*endpoint.username == "ops@corp");
  CHECK(endpoint.password == "p/w:");
}

TEST_CASE("a URL without credentials means no authentication") {
  const auto endpoint = parse_management_url("http://localhost:15672/");
  CHECK_FALSE(endpoint.username.has_value());
  CHECK(endpoint.base_url == "http://localhost:15672");
  CHECK(endpoint.redacted_url == "http://localhost:15672");
}

TEST_CASE("a user without a password shows no password placeholder") {
  const auto endpoint = parse_management_url("http://monitor@localhost:15672");
  CHECK(*endpoint.username == "monitor");
  CHECK(endpoint.password.empty());
  CHECK(endpoint.redacted_url == "http://monitor@localhost:15672");
}

TEST_CASE("bad management URLs are InvalidInput that never quote the password") {
  for (const char* url :
       {"amqp://guest:hunter2@localhost:5672", "not a url hunter2",
        "http://guest:hunter2@localhost:15672/?x=1", "http://guest:hunter2@localhost:15672#frag"}) {
    INFO(url);
    try {
      parse_management_url(url);
      FAIL("accepted");
    } catch (const celeriac::InvalidInput& error) {
      CHECK(error.field() == "broker.management_url");
      CHECK(std::string(error.what()).find("hunter2") == std::string::npos);
    }
  }
}

TEST_CASE("path segments are percent-encoded, the default vhost included") {
  CHECK(encode_path_segment("/") == "%2F");
  CHECK(encode_path_segment("celeriac.default") == "celeriac.default");
  CHECK(encode_path_segment("a b/c#d?e%") == "a%20b%2Fc%23d%3Fe%25");
  CHECK(encode_path_segment("Az09-_.~") == "Az09-_.~");
  CHECK(encode_path_segment("é") == "%C3%A9");
  CHECK(encode_path_segment("..") == "%2E%2E");
  CHECK(encode_path_segment(".") == "%2E");
  CHECK(encode_path_segment("127.0.0.1:5 -> 127.0.0.1:6") ==
        "127.0.0.1%3A5%20-%3E%20127.0.0.1%3A6");
}

TEST_CASE("regex_escape makes a queue name match only itself") {
  CHECK(regex_escape("default") == "default");
  CHECK(regex_escape("jobs.high") == R"(jobs\.high)");
  CHECK(regex_escape("a+b(c)[d]{e}|f^g$h*i?j\\k") == R"(a\+b\(c\)\[d\]\{e\}\|f\^g\$h\*i\?j\\k)");
  CHECK(regex_escape("snake_case_9") == "snake_case_9");
  CHECK(regex_escape("é") == "é");
}

TEST_CASE("the dead-letter policy routes what the broker drops to <queue>.dead") {
  CHECK(dead_letter_policy_name("jobs.high") == "celeriac-dlx-jobs.high");
  const json expected = {
      {"pattern", R"(^jobs\.high$)"},
      {"apply-to", "queues"},
      {"definition", {{"dead-letter-exchange", ""}, {"dead-letter-routing-key", "jobs.high.dead"}}},
      {"priority", 0}};
  CHECK(dead_letter_policy_body("jobs.high") == expected);
}

TEST_CASE("a sampled queue object is read into QueueStats") {
  const json queue = json::parse(R"({
    "consumers": 2, "messages_ready": 1200, "messages_unacknowledged": 8,
    "name": "celeriac.default", "type": "quorum",
    "message_stats": {
      "publish_details": {"rate": 41.5}, "deliver_get_details": {"rate": 39.25},
      "ack_details": {"rate": 38.0}
    }
  })");
  const auto stats = queue_stats_from_json(queue);
  REQUIRE(stats.has_value());
  CHECK(stats->name == "celeriac.default");
  CHECK(stats->type == "quorum");
  CHECK(stats->ready == 1200);
  CHECK(stats->unacked == 8);
  CHECK(stats->consumers == 2);
  CHECK(stats->publish_rate == doctest::Approx(41.5));
  CHECK(stats->deliver_rate == doctest::Approx(39.25));
  CHECK(stats->ack_rate == doctest::Approx(38.0));
}

TEST_CASE("a queue the broker has not sampled yet reads as zeros") {
  // What 3.10 answers right after queue.declare: no counts, no consumers.
  const auto stats = queue_stats_from_json(json::parse(R"({"name":"fresh","type":"classic"})"));
  REQUIRE(stats.has_value());
  CHECK(stats->ready == 0);
  CHECK(stats->unacked == 0);
  CHECK(stats->consumers == 0);
  CHECK(stats->publish_rate == 0);
  CHECK(stats->deliver_rate == 0);
  CHECK(stats->ack_rate == 0);
}

TEST_CASE("values of the wrong kind read as absent, a nameless queue is rejected") {
  const auto stats = queue_stats_from_json(
      json::parse(R"({"name":"q","messages_ready":null,"message_stats":{"ack_details":[]}})"));
  REQUIRE(stats.has_value());
  CHECK(stats->ready == 0);
  CHECK(stats->ack_rate == 0);
  CHECK_FALSE(queue_stats_from_json(json::parse(R"({"messages_ready":3})")).has_value());
  CHECK_FALSE(queue_stats_from_json(json::parse(R"({"name":7})")).has_value());
  CHECK_FALSE(queue_stats_from_json(json::parse("[]")).has_value());
}
