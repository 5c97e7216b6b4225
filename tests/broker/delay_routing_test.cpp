#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "celeriac/broker/delay_routing.hpp"

using namespace celeriac::broker;

namespace {

// Topic matching as RabbitMQ does it: '*' one word, '#' zero or more words.
bool topic_match(std::string_view pattern, std::string_view key) {
  auto split = [](std::string_view s) {
    std::vector<std::string_view> words;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i) {
      if (i == s.size() || s[i] == '.') {
        words.push_back(s.substr(start, i - start));
        start = i + 1;
      }
    }
    return words;
  };
  const auto p = split(pattern);
  const auto k = split(key);
  std::function<bool(std::size_t, std::size_t)> match = [&](std::size_t i, std::size_t j) {
    if (i == p.size()) return j == k.size();
    if (p[i] == "#") return match(i + 1, j) || (j < k.size() && match(i, j + 1));
    return j < k.size() && (p[i] == "*" || p[i] == k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

// Walks a message through the exchanges as the broker would and returns the
// total time it waits in level queues, checking it ends in QUEUE.
std::uint64_t simulate(std::uint32_t seconds, const std::string& queue) {
  const std::string key = delay_routing_key(seconds, queue);
  std::uint64_t waited = 0;
  for (int level = kDelayLevels - 1; level >= 0; --level) {
    const bool one = topic_match(delay_level_binding(level, true), key);
    const bool zero = topic_match(delay_level_binding(level, false), key);
    REQUIRE(one != zero); // exactly one binding routes each message
    if (one) waited += static_cast<std::uint64_t>(delay_level_ttl(level).count());
  }
  CHECK(topic_match(delay_delivery_binding(queue), key));
  CHECK_FALSE(topic_match(delay_delivery_binding("other"), key));
  return waited;
}

} // namespace

TEST_CASE("a delay of d seconds waits in exactly the levels of d's set bits") {
  CHECK(delay_routing_key(5, "default") ==
        "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.1.default");
  for (std::uint32_t d : {0U, 1U, 5U, 37U, 300U, 86'400U, kMaxDelaySeconds}) {
    CHECK(simulate(d, "default") == d);
  }
  CHECK(simulate(37, "jira.high") == 37); // queue names with dots still route
  // ... and only to themselves: not to a queue whose name is a dotted suffix.
  CHECK_FALSE(topic_match(delay_delivery_binding("high"), delay_routing_key(37, "jira.high")));
  CHECK_FALSE(topic_match(delay_delivery_binding("jira.high"), delay_routing_key(37, "high")));
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    const std::uint32_t d = rng() & kMaxDelaySeconds;
    CHECK(simulate(d, "low") == d);
  }
}

TEST_CASE("delays beyond the levels are clamped; keys parse back") {
  std::uint32_t seconds = 0;
  std::string queue;
  REQUIRE(parse_delay_routing_key(delay_routing_key(0xFFFFFFFF, "q"), seconds, queue));
  CHECK(seconds == kMaxDelaySeconds);
  CHECK(queue == "q");
  CHECK_FALSE(parse_delay_routing_key("default", seconds, queue));
  CHECK_FALSE(parse_delay_routing_key(std::string(56, '2') + "q", seconds, queue));
}

TEST_CASE("level names and dead-letter chain") {
  CHECK(delay_level_name(27) == "celeriac.delay.27");
  CHECK(delay_level_name(3) == "celeriac.delay.03");
  CHECK(delay_next_exchange(3) == "celeriac.delay.02");
  CHECK(delay_next_exchange(0) == delay_delivery_exchange());
  CHECK(delay_level_ttl(10) == std::chrono::seconds(1024));
  CHECK(delay_level_binding(27, true) == "1.#");
  CHECK(delay_level_binding(26, false) == "*.0.#");
}
