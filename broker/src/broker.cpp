#include "celeriac/broker/broker.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "celeriac/broker/amqp_message.hpp"
#include "celeriac/broker/delay_routing.hpp"
#include "celeriac/broker/management_api.hpp"

namespace celeriac::broker {
namespace {
constexpr amqp_channel_t kPublishChannel = 1;
constexpr amqp_channel_t kConsumeChannel = 2;
} // namespace

Broker::Broker(uv_loop_t* loop, BrokerOptions options) : loop_(loop), options_(std::move(options)) {
  Connection::Handlers handlers{
      .on_method =
          [this](amqp_channel_t channel, const amqp_method_t& method) {
            if (channel == kPublishChannel || channel == 0) publisher_->on_method(method);
            if (channel == kConsumeChannel) consumer_->on_method(method);
          },
      .on_message =
          [this](amqp_channel_t channel, InboundMessage&& message) {
            if (message.method == AMQP_BASIC_RETURN_METHOD) {
              publisher_->on_return(std::move(message));
            } else if (channel == kConsumeChannel) {
              consumer_->on_message(std::move(message));
            } else if (channel == kPrivateChannel && private_queue_) {
              private_queue_->on_message(std::move(message));
            }
          },
      .on_lost = [this](const std::string& reason) { on_lost(reason); },
  };
  ConnectionOptions connection_options = options_.connection;
  connection_options.max_body_bytes = options_.limits.max_body_bytes;
  connection_ = std::make_unique<Connection>(loop_, connection_options, std::move(handlers));
  publisher_ = std::make_unique<Publisher>(*connection_, kPublishChannel, options_.confirm_window);
  consumer_ = std::make_unique<Consumer>(
      *connection_, kConsumeChannel,
      ConsumerOptions{options_.limits, kAdminChannel, options_.subscribe_retry_min,
                      options_.subscribe_retry_max});
  retry_timer_ = new uv_timer_t;
  uv_timer_init(loop_, retry_timer_);
  retry_timer_->data = this;
}

Broker::~Broker() {
  stop();
  uv_close(reinterpret_cast<uv_handle_t*>(retry_timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Broker::start() {
  stopped_ = false;
  try {
    if (!connect()) throw InfrastructureError("the broker connection was lost while starting");
  } catch (const ChannelError& e) {
    // The broker answered and refused our topology (a queue declared with
    // other arguments): configuration, which waiting does not mend.
    fail_start(e);
    throw;
  } catch (const InfrastructureError& e) {
    if (!options_.retry_start) {
      fail_start(e);
      throw;
    }
    // Waits for the broker as it would after losing it: publishes and
    // subscriptions wait, and the first connect sets the policies.
    spdlog::warn("broker: cannot connect to {} ({}); retrying until it answers",
                 connection_->url().redacted(), e.what());
    policies_pending_ = true;
    schedule_reconnect();
    return;
  } catch (const std::exception& e) {
    fail_start(e);
    throw;
  }
  apply_dead_letter_policies();
}

// A failed start leaves the broker stopped: publishes fail instead of waiting.
void Broker::fail_start(const std::exception& e) {
  stopped_ = true;
  uv_timer_stop(retry_timer_);
  publisher_->stop(fmt::format("broker start failed: {}", e.what()));
}

void Broker::apply_dead_letter_policies() {
  if (!options_.management_url) return;
  try {
    ManagementApi api(*options_.management_url);
    for (const auto& queue : options_.topology.queues) {
      api.set_dead_letter_policy(connection_->url().vhost, queue.name);
    }
  } catch (const Error& e) {
    spdlog::error(
        "broker: dead-letter policies not set, broker-side drops will not reach "
        "<queue>.dead: {}",
        e.what());
  }
}

void Broker::stop() {
  if (stopped_) return;
  stopped_ = true;
  uv_timer_stop(retry_timer_);
  consumer_->stop_retrying();
  try {
    consumer_->flush_acks();
  } catch (const InfrastructureError& e) {
    spdlog::warn("broker: sending the last acks failed: {}", e.what());
  }
  publisher_->stop("broker stopped");
  connection_->close();
}

// Returns false if the connection was lost on the way (a reconnect is then
// already scheduled by on_lost). Every failure puts unconfirmed publishes back.
bool Broker::connect() {
  try {
    connection_->open();
    connection_->open_channel(kAdminChannel);
    declare_topology(*connection_, kAdminChannel, options_.topology);
    publisher_->start();
    if (!connection_->is_open()) return false;
    if (consuming_) consumer_->restart();
    if (private_queue_ && connection_->is_open()) declare_private_queue();
  } catch (const InfrastructureError&) {
    publisher_->on_connection_lost();
    connection_->close();
    throw;
  }
  if (!connection_->is_open()) return false;
  connected_at_ = std::chrono::steady_clock::now();
  return true;
}

void Broker::on_lost(const std::string& reason) {
  publisher_->on_connection_lost();
  if (stopped_) return;
  // Backoff starts over only after a connection that lasted: one that dies
  // right after each connect keeps backing off instead of retrying at the minimum.
  if (std::chrono::steady_clock::now() - connected_at_ > options_.reconnect_max) attempt_ = 0;
  spdlog::warn("broker: connection lost ({}); reconnecting", reason);
  schedule_reconnect();
}

void Broker::schedule_reconnect() {
  const double base =
      static_cast<double>(options_.reconnect_min.count()) * std::pow(2.0, std::min(attempt_, 20));
  const double capped = std::min(base, static_cast<double>(options_.reconnect_max.count()));
  // Equal jitter: never zero (no hammering), never all replicas at once.
  const double delay = capped / 2 + std::uniform_real_distribution<double>(0, capped / 2)(rng_);
  ++attempt_;
  spdlog::info("broker: reconnect attempt {} in {:.0f} ms", attempt_, delay);
  uv_timer_start(
      retry_timer_,
      [](uv_timer_t* timer) {
        auto* self = static_cast<Broker*>(timer->data);
        try {
          if (!self->connect()) return; // lost again on the way: on_lost rescheduled
          // The first connect of a retried start(): what start() would have done.
          if (std::exchange(self->policies_pending_, false)) {
            spdlog::info("broker: connected to {}", self->connection_->url().redacted());
            self->apply_dead_letter_policies();
            return;
          }
          ++self->reconnects_;
          spdlog::info("broker: reconnected to {}", self->connection_->url().redacted());
        } catch (const std::exception& e) { // a libuv callback: nothing may escape
          spdlog::warn("broker: reconnect failed: {}", e.what());
          if (!self->stopped_) self->schedule_reconnect();
        }
      },
      static_cast<std::uint64_t>(delay), 0);
}

void Broker::publish(const Job& job, PublishCallback done, std::optional<Timestamp> now) {
  publish(Outgoing{"", job.queue, encode_job(job, now), std::move(done)});
}

void Broker::publish_delayed(const Job& job, Duration delay, PublishCallback done) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
  const auto whole = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(seconds, 0, static_cast<std::int64_t>(kMaxDelaySeconds)));
  publish(Outgoing{delay_level_name(kDelayLevels - 1), delay_routing_key(whole, job.queue),
                   encode_job(job), std::move(done)});
}

void Broker::publish(Outgoing outgoing) {
  publisher_->publish(std::move(outgoing));
}

// While disconnected only the subscription is recorded; connect() makes it.
// A queue the broker refuses is retried by the Consumer, not thrown.
void Broker::consume(std::vector<std::string> queues, std::uint16_t prefetch,
                     DeliveryHandler handler) {
  consumer_->configure(std::move(queues), prefetch, std::move(handler));
  consuming_ = true;
  if (!connection_->is_open()) return;
  try {
    consumer_->restart();
  } catch (const InfrastructureError& e) { // lost on the way: the reconnect subscribes
    spdlog::warn("broker: subscribing failed, the connection was lost: {}", e.what());
  }
}

void Broker::stop_consuming() {
  consuming_ = false;
  consumer_->cancel();
}

void Broker::listen(PrivateQueue queue) {
  private_queue_ = std::move(queue);
  if (!connection_->is_open()) return;
  try {
    declare_private_queue();
  } catch (const InfrastructureError& e) { // lost on the way: the reconnect declares it
    spdlog::warn("broker: declaring the private queue failed: {}", e.what());
  }
}

void Broker::declare_private_queue() {
  connection_->open_channel(kPrivateChannel);
  const amqp_queue_declare_ok_t* ok = amqp_queue_declare(
      connection_->native(), kPrivateChannel, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
  connection_->check_reply(kPrivateChannel, "queue.declare (private)");
  const std::string name(static_cast<const char*>(ok->queue.bytes), ok->queue.len);
  if (!private_queue_->bind_exchange.empty()) {
    amqp_queue_bind(connection_->native(), kPrivateChannel, bytes_view(name),
                    bytes_view(private_queue_->bind_exchange),
                    bytes_view(private_queue_->binding_key), amqp_empty_table);
    connection_->check_reply(kPrivateChannel, "queue.bind (private)");
  }
  amqp_basic_consume(connection_->native(), kPrivateChannel, bytes_view(name), amqp_empty_bytes, 0,
                     1, 1, amqp_empty_table);
  connection_->check_reply(kPrivateChannel, "basic.consume (private)");
  if (private_queue_->on_ready) private_queue_->on_ready(name);
}

std::vector<Subscription> Broker::subscriptions() const {
  return consumer_->subscriptions();
}

bool Broker::ack(const Delivery& delivery, bool multiple) {
  return consumer_->ack(delivery, multiple);
}

bool Broker::reject(const Delivery& delivery, bool requeue) {
  return consumer_->reject(delivery, requeue);
}

} // namespace celeriac::broker
