// Side B of publish_bench. All messages are handed to Publisher::publish() up
// front, as an application enqueuing a burst would; the Publisher keeps the
// window and queues the rest. The loop stops when the last callback arrives.
#include "celeriac_side.hpp"

#include <uv.h>

#include <fmt/format.h>

#include "celeriac/broker/connection.hpp"
#include "celeriac/broker/publisher.hpp"

namespace celeriac::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr amqp_channel_t kChannel = 1;

class CeleriacRun {
 public:
  CeleriacRun(uv_loop_t* loop, const RunSpec& spec)
      : loop_(loop),
        spec_(spec),
        connection_(loop, options(spec), handlers()),
        publisher_(connection_, kChannel, spec.window) {
    prototype_.body = make_body(spec.size);
  }

  RunResult run() {
    connection_.open();
    publisher_.start();
    start_ = Clock::now();
    cpu_start_ = process_cpu();
    for (std::uint64_t i = 0; i < spec_.messages; ++i)
      publisher_.publish(outgoing(i));
    if (settled_ < spec_.messages) watch_and_run();
    publisher_.stop("publish_bench over"); // anything left completes as Failed
    connection_.close();
    return result_;
  }

 private:
  static broker::ConnectionOptions options(const RunSpec& spec) {
    broker::ConnectionOptions o;
    o.url = spec.url;
    o.name = "celeriac publish_bench";
    return o;
  }

  broker::Connection::Handlers handlers() {
    return {
        .on_method = [this](amqp_channel_t, const amqp_method_t& m) { publisher_.on_method(m); },
        .on_message = [this](amqp_channel_t,
                             broker::InboundMessage&& m) { publisher_.on_return(std::move(m)); },
        .on_lost =
            [this](const std::string& reason) {
              result_.problem = fmt::format("connection lost: {}", reason);
              uv_stop(loop_);
            },
    };
  }

  broker::Outgoing outgoing(std::uint64_t i) {
    Message message = prototype_;
    message.properties.priority = static_cast<int>(i % 10);
    return broker::Outgoing{"", spec_.queue, std::move(message),
                            [this](const broker::PublishResult& r) { settle(r); }};
  }

  void settle(const broker::PublishResult& r) {
    switch (r.status) {
      case broker::PublishStatus::Confirmed:
        ++result_.confirmed;
        break;
      case broker::PublishStatus::Nacked:
        ++result_.nacked;
        break;
      case broker::PublishStatus::Returned:
        ++result_.returned;
        break;
      case broker::PublishStatus::Failed:
        ++result_.failed;
        break;
    }
    if (++settled_ != spec_.messages) return;
    result_.elapsed = Clock::now() - start_;
    result_.cpu = process_cpu() - cpu_start_;
    uv_stop(loop_);
  }

  // Runs the loop until the last publish completes, the connection is lost,
  // or the broker confirms nothing for kStallTimeout.
  void watch_and_run() {
    uv_timer_t watchdog;
    uv_timer_init(loop_, &watchdog);
    watchdog.data = this;
    const auto period = std::chrono::milliseconds(kStallTimeout).count();
    uv_timer_start(
        &watchdog, [](uv_timer_t* t) { static_cast<CeleriacRun*>(t->data)->check_progress(); },
        period, period);
    uv_run(loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(loop_, UV_RUN_NOWAIT); // the close callback runs while `watchdog` lives
  }

  void check_progress() {
    if (settled_ != settled_at_last_check_) {
      settled_at_last_check_ = settled_;
      return;
    }
    result_.problem = fmt::format("no confirmation for {} s", kStallTimeout.count());
    uv_stop(loop_);
  }

  uv_loop_t* loop_;
  const RunSpec& spec_;
  broker::Connection connection_;
  broker::Publisher publisher_;
  Message prototype_;
  RunResult result_;
  Clock::time_point start_;
  std::chrono::duration<double> cpu_start_{0};
  std::uint64_t settled_ = 0;
  std::uint64_t settled_at_last_check_ = 0;
};

} // namespace

RunResult run_celeriac_publisher(const RunSpec& spec) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  RunResult result;
  try {
    result = CeleriacRun(&loop, spec).run();
  } catch (...) {
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    throw;
  }
  uv_run(&loop, UV_RUN_NOWAIT); // close callbacks of the connection's handles
  if (uv_loop_close(&loop) != 0) result.problem = "the loop still had open handles";
  return result;
}

} // namespace celeriac::bench
