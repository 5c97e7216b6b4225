#include "celeriac/broker/delay_routing.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace celeriac::broker {

std::string delay_level_name(int level) {
  return fmt::format("celeriac.delay.{:02}", level);
}

std::string delay_delivery_exchange() {
  return "celeriac.delay.deliver";
}

std::string delay_next_exchange(int level) {
  return level == 0 ? delay_delivery_exchange() : delay_level_name(level - 1);
}

std::chrono::seconds delay_level_ttl(int level) {
  return std::chrono::seconds(1LL << level);
}

std::string delay_routing_key(std::uint32_t seconds, std::string_view queue) {
  seconds = std::min(seconds, kMaxDelaySeconds);
  std::string key;
  key.reserve(kDelayLevels * 2 + queue.size());
  for (int level = kDelayLevels - 1; level >= 0; --level) {
    key += ((seconds >> level) & 1U) != 0 ? '1' : '0';
    key += '.';
  }
  key += queue;
  return key;
}

std::string delay_level_binding(int level, bool bit) {
  std::string key;
  for (int higher = kDelayLevels - 1; higher > level; --higher)
    key += "*.";
  key += bit ? "1.#" : "0.#";
  return key;
}

// Exactly 28 bit-words, then the whole queue name: "#.<queue>" would also
// match every queue whose name ends in ".<queue>" and deliver the job twice.
std::string delay_delivery_binding(std::string_view queue) {
  std::string key;
  key.reserve(kDelayLevels * 2 + queue.size());
  for (int level = 0; level < kDelayLevels; ++level)
    key += "*.";
  key += queue;
  return key;
}

bool parse_delay_routing_key(std::string_view key, std::uint32_t& seconds, std::string& queue) {
  if (key.size() <= static_cast<std::size_t>(kDelayLevels) * 2) return false;
  std::uint32_t value = 0;
  for (int i = 0; i < kDelayLevels; ++i) {
    const char bit = key[static_cast<std::size_t>(i) * 2];
    if ((bit != '0' && bit != '1') || key[static_cast<std::size_t>(i) * 2 + 1] != '.') return false;
    value = (value << 1) | static_cast<std::uint32_t>(bit - '0');
  }
  seconds = value;
  queue = std::string(key.substr(static_cast<std::size_t>(kDelayLevels) * 2));
  return true;
}

} // namespace celeriac::broker
