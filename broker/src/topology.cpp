#include "celeriac/broker/topology.hpp"

#include <fmt/format.h>

#include <deque>

#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/delay_routing.hpp"

namespace celeriac::broker {
namespace {

// Queue arguments built field by field: the wire types matter. py-amqp sends a
// Python int below 2^31 as a signed 32-bit field, and RabbitMQ compares
// arguments of a redeclared queue, so x-max-priority goes out the same way.
class Arguments {
 public:
  Arguments& i32(const char* key, std::int32_t v) {
    auto& e = add(key, AMQP_FIELD_KIND_I32);
    e.value.value.i32 = v;
    return *this;
  }
  Arguments& i64(const char* key, std::int64_t v) {
    auto& e = add(key, AMQP_FIELD_KIND_I64);
    e.value.value.i64 = v;
    return *this;
  }
  Arguments& text(const char* key, const std::string& v) {
    strings_.push_back(v);
    auto& e = add(key, AMQP_FIELD_KIND_UTF8);
    e.value.value.bytes = amqp_bytes_t{strings_.back().size(), strings_.back().data()};
    return *this;
  }
  amqp_table_t table() { return amqp_table_t{static_cast<int>(entries_.size()), entries_.data()}; }

 private:
  amqp_table_entry_t& add(const char* key, std::uint8_t kind) {
    entries_.push_back(amqp_table_entry_t{amqp_cstring_bytes(key), {}});
    entries_.back().value.kind = kind;
    return entries_.back();
  }
  std::vector<amqp_table_entry_t> entries_;
  std::deque<std::string> strings_; // a deque: entries point into its elements, which never move
};

void declare_queue(Connection& c, amqp_channel_t ch, const std::string& name, Arguments args) {
  amqp_queue_declare(c.native(), ch, bytes_view(name), 0, 1, 0, 0, args.table());
  try {
    c.check_reply(ch, "queue.declare");
  } catch (const ChannelError& e) {
    if (e.code() != AMQP_PRECONDITION_FAILED) throw;
    throw ChannelError(e.code(), fmt::format("queue '{}' already exists with other arguments ({})",
                                             name, e.what()));
  }
}

void declare_exchange(Connection& c, amqp_channel_t ch, std::string_view name, const char* type,
                      bool durable) {
  const std::string n(name);
  amqp_exchange_declare(c.native(), ch, bytes_view(n), amqp_cstring_bytes(type), 0, durable ? 1 : 0,
                        0, 0, amqp_empty_table);
  c.check_reply(ch, "exchange.declare");
}

void bind_queue(Connection& c, amqp_channel_t ch, const std::string& queue,
                const std::string& exchange, const std::string& key) {
  amqp_queue_bind(c.native(), ch, bytes_view(queue), bytes_view(exchange), bytes_view(key),
                  amqp_empty_table);
  c.check_reply(ch, "queue.bind");
}

} // namespace

std::string dead_letter_queue(std::string_view queue) {
  return fmt::format("{}.dead", queue);
}

void declare_job_queue(Connection& c, amqp_channel_t ch, const QueueSpec& queue) {
  Arguments args;
  if (queue.quorum) {
    args.text("x-queue-type", "quorum");
  } else {
    args.i32("x-max-priority", queue.max_priority);
  }
  declare_queue(c, ch, queue.name, std::move(args));
  declare_queue(c, ch, dead_letter_queue(queue.name), Arguments{});
}

void declare_delay_levels(Connection& c, amqp_channel_t ch) {
  declare_exchange(c, ch, delay_delivery_exchange(), "topic", true);
  for (int level = 0; level < kDelayLevels; ++level) {
    const std::string name = delay_level_name(level);
    declare_exchange(c, ch, name, "topic", true);
    Arguments args;
    args.text("x-queue-type", "quorum")
        .i64("x-message-ttl", delay_level_ttl(level).count() * 1000)
        .text("x-dead-letter-exchange", delay_next_exchange(level))
        .text("x-dead-letter-strategy", "at-least-once")
        .text("x-overflow", "reject-publish");
    declare_queue(c, ch, name, std::move(args));
    bind_queue(c, ch, name, name, delay_level_binding(level, true));
    // Bit k clear: straight on to the next level down.
    const std::string next = delay_next_exchange(level);
    const std::string key = delay_level_binding(level, false);
    amqp_exchange_bind(c.native(), ch, bytes_view(next), bytes_view(name), bytes_view(key),
                       amqp_empty_table);
    c.check_reply(ch, "exchange.bind");
  }
}

void declare_topology(Connection& c, amqp_channel_t ch, const TopologySpec& spec) {
  if (spec.delays) declare_delay_levels(c, ch);
  for (const auto& queue : spec.queues) {
    declare_job_queue(c, ch, queue);
    if (spec.delays) {
      bind_queue(c, ch, queue.name, delay_delivery_exchange(), delay_delivery_binding(queue.name));
    }
  }
  declare_exchange(c, ch, kControlExchange, "fanout", false);
  declare_exchange(c, ch, kEventsExchange, "topic", true);
}

} // namespace celeriac::broker
