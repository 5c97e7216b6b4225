#include "poison.hpp"

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "celeriac/broker/depth_probe.hpp"
#include "celeriac/broker/topology.hpp"
#include "celeriac/core/celery_protocol.hpp"

namespace celeriac::chaos {
namespace {

using Clock = std::chrono::steady_clock;

JobId random_id(std::mt19937_64& rng) {
  JobId::Bytes bytes{};
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  return JobId::v4(bytes);
}

// A job celeriac would run, as its Celery message: the raw material of the poison.
Message real_message(const std::string& queue, const std::string& task, nlohmann::json args,
                     std::mt19937_64& rng) {
  Job job;
  job.id = random_id(rng);
  job.task = task;
  job.queue = queue;
  job.args = std::move(args);
  return encode_job(job);
}

// The kinds, each turning a queue into one poison message.
Message poison_of_kind(const std::string& kind, const std::string& queue, std::mt19937_64& rng) {
  if (kind == "not-json") {
    Message m = real_message(queue, "demo.add", {1, 2}, rng);
    m.body = "this is not JSON {";
    return m;
  }
  if (kind == "truncated-json") {
    Message m = real_message(queue, "demo.add", {1, 2}, rng);
    m.body.resize(m.body.size() / 2);
    return m;
  }
  if (kind == "unknown-task") return real_message(queue, "chaos.no_such_task", {1, 2}, rng);
  if (kind == "10MiB-body")
    return real_message(queue, "demo.add", {std::string(10 << 20, 'x'), 2}, rng);
  if (kind == "pickle") {
    Message m = real_message(queue, "demo.add", {1, 2}, rng);
    m.properties.content_type = "application/x-python-serialize";
    m.properties.content_encoding = "binary";
    // pickle.dumps([1, 2], protocol=4); "e." split off so \x02 ends its escape.
    static constexpr char kPickle[] =
        "\x80\x04\x95\x09\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02"
        "e.";
    m.body.assign(kPickle, sizeof(kPickle) - 1);
    return m;
  }
  if (kind == "text-plain") {
    Message m = real_message(queue, "demo.add", {1, 2}, rng);
    m.properties.content_type = "text/plain";
    return m;
  }
  // invalid-utf8: well-formed JSON but for two bytes that are no UTF-8.
  Message m = real_message(queue, "demo.add", {"PLACEHOLDER", 2}, rng);
  m.body.replace(m.body.find("PLACEHOLDER"), 11, "bad\xff\xfe");
  return m;
}

} // namespace

std::vector<PoisonMessage> make_poison(const std::vector<std::string>& queues, int rounds) {
  static const std::vector<std::string> kinds{"not-json",    "truncated-json", "unknown-task",
                                              "10MiB-body",  "pickle",         "text-plain",
                                              "invalid-utf8"};
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<PoisonMessage> poison;
  for (int round = 0; round < rounds; ++round) {
    for (const auto& kind : kinds) {
      const std::string& queue = queues[poison.size() % queues.size()];
      PoisonMessage p{kind, fmt::format("{}#{}", kind, round), queue,
                      poison_of_kind(kind, queue, rng)};
      p.message.headers.set(kPoisonHeader, HeaderValue(p.marker));
      poison.push_back(std::move(p));
    }
  }
  return poison;
}

RawBroker::RawBroker(const ChaosOptions& options, const std::vector<std::string>& queues)
    : queues_(queues) {
  uv_loop_init(&loop_);
  broker::BrokerOptions o;
  o.connection.url = options.broker_url;
  o.connection.heartbeat = std::chrono::seconds(30);
  o.connection.name = "celeriac-chaos";
  for (const auto& q : queues)
    o.topology.queues.push_back(broker::QueueSpec{q, false, 9});
  broker_ = std::make_unique<broker::Broker>(&loop_, o);
  broker_->start();
}

RawBroker::~RawBroker() {
  broker_->stop();
  broker_.reset();
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_loop_close(&loop_);
}

bool RawBroker::run_until(const std::function<bool()>& condition, Seconds timeout) {
  uv_timer_t tick;
  uv_timer_init(&loop_, &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 5, 5);
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  bool met = condition();
  while (!met && Clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
    met = condition();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);
  return met;
}

void RawBroker::keep_alive() {
  uv_run(&loop_, UV_RUN_NOWAIT);
}

bool RawBroker::publish(const std::vector<PoisonMessage>& messages, Seconds timeout) {
  auto confirmed = std::make_shared<std::size_t>(0);
  for (const auto& p : messages) {
    broker::Outgoing out;
    out.routing_key = p.queue;
    out.message = p.message;
    out.done = [confirmed](const broker::PublishResult& r) {
      if (r.status == broker::PublishStatus::Confirmed) ++*confirmed;
    };
    broker_->publish(std::move(out));
  }
  return run_until([&] { return *confirmed == messages.size(); }, timeout);
}

void RawBroker::take(broker::Delivery&& delivery) {
  ++dead_.total;
  const HeaderValue* reason = delivery.raw.headers.find(kDeadReasonHeader);
  const std::string* reason_text = reason ? reason->get_if<std::string>() : nullptr;
  const std::string why = reason_text ? *reason_text : "";
  const HeaderValue* marker = delivery.raw.headers.find(kPoisonHeader);
  const std::string* marker_text = marker ? marker->get_if<std::string>() : nullptr;
  if (marker_text) {
    dead_.poison_reasons[*marker_text] = why;
    dead_.poison_queues[*marker_text] = delivery.queue;
  } else {
    ++dead_.other_reasons[why.empty() ? "(no reason header)" : why.substr(0, why.find(": "))];
  }
  broker_->ack(delivery);
}

bool RawBroker::dead_queues_empty() {
  for (const auto& q : queues_) {
    const auto depth = broker::probe_queue(broker_->connection(), broker::Broker::kAdminChannel,
                                           broker::dead_letter_queue(q));
    if (!depth || depth->ready > 0) return false;
  }
  return true;
}

DeadLetters RawBroker::drain_dead(const std::vector<std::string>& markers, Seconds timeout) {
  std::vector<std::string> dead_queues;
  for (const auto& q : queues_)
    dead_queues.push_back(broker::dead_letter_queue(q));
  broker_->consume(dead_queues, 200, [this](broker::Delivery&& d) { take(std::move(d)); });
  auto last_probe = Clock::now() - std::chrono::seconds(1);
  run_until(
      [&] {
        for (const auto& m : markers)
          if (!dead_.poison_reasons.contains(m)) return false;
        if (Clock::now() - last_probe < std::chrono::milliseconds(200)) return false;
        last_probe = Clock::now();
        return dead_queues_empty();
      },
      timeout);
  broker_->stop_consuming();
  return dead_;
}

void RawBroker::delete_queues() {
  for (const auto& q : queues_) {
    for (const auto& name : {q, broker::dead_letter_queue(q)}) {
      amqp_queue_delete(broker_->connection().native(), broker::Broker::kAdminChannel,
                        amqp_cstring_bytes(name.c_str()), 0, 0);
      broker_->connection().check_reply(broker::Broker::kAdminChannel, "queue.delete");
    }
  }
}

} // namespace celeriac::chaos
