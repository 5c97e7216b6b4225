// The binary-level delay topology's routing math (DESIGN.md "RabbitMQ topology").
//
// Delays live in the broker: 28 levels, level k a queue whose messages wait
// 2^k seconds (x-message-ttl) and then dead-letter onward. A delay of d
// seconds is written as 28 bit-words in the routing key, most significant
// first, followed by the destination queue:
//
//   "0.0. ... .1.0.1.default"  (d = 5, destination "default")
//
// Exchange k (topic) sends a message whose bit k is 1 into queue k (it waits
// there 2^k s) and one whose bit k is 0 straight on to exchange k-1; queue k
// dead-letters to exchange k-1 with the routing key unchanged. After level 0 the
// delivery exchange routes "*.*. … .*.<queue>" (28 words, then the name) to the
// destination queue. So the message
// waits exactly the levels of d's set bits. Pure: names and keys only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "celeriac/core/job.hpp"

namespace celeriac::broker {

inline constexpr int kDelayLevels = 28;
static_assert(kMaxQueueNameLength + 2 * kDelayLevels <= 255,
              "a delay routing key (28 bit-words + queue name) must fit an AMQP short string");

// The longest delay the levels can express (about 8.5 years).
inline constexpr std::uint32_t kMaxDelaySeconds = (1U << kDelayLevels) - 1;

// Exchange and queue of level K (0..27), and the delivery exchange after level 0.
std::string delay_level_name(int level);
std::string delay_delivery_exchange();
// Where level K's queue dead-letters to: level K-1's exchange, or delivery.
std::string delay_next_exchange(int level);
std::chrono::seconds delay_level_ttl(int level);

// The routing key for waiting SECONDS (clamped to kMaxDelaySeconds) before QUEUE.
std::string delay_routing_key(std::uint32_t seconds, std::string_view queue);
// The binding key on level K's exchange for messages whose bit K is BIT.
std::string delay_level_binding(int level, bool bit);
// The binding key on the delivery exchange for QUEUE.
std::string delay_delivery_binding(std::string_view queue);

// The whole seconds the key asks to wait, and its destination queue, or false
// if KEY is not a delay routing key. For tests and for the fake broker.
bool parse_delay_routing_key(std::string_view key, std::uint32_t& seconds, std::string& queue);

} // namespace celeriac::broker
