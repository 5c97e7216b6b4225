// The JobBroker conformance suite: each promise of job_broker.hpp's contract
// written once, as a function of a Harness, and run by every implementation's
// tests (fake_broker_test.cpp on the FakeBroker, broker_conformance_rmqtest.cpp
// on the RabbitMQ Broker), one TEST_CASE per behaviour.
//
// A behaviour sees the broker only through JobBroker and the harness: queue
// depth is observed by consuming, never by asking the implementation.
// Callbacks never REQUIRE (an exception must not cross the real broker's libuv
// callbacks); the checks that stop a behaviour run on the test's own frames.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "celeriac/broker/job_broker.hpp"

namespace celeriac::test::conformance {

using namespace std::chrono_literals;

// What a behaviour needs of the world around the broker under test.
class Harness {
 public:
  virtual ~Harness() = default;
  virtual broker::JobBroker& broker() = 0;
  // Declares a fresh, empty classic job queue (priorities 0..9) used by this test only.
  virtual std::string new_queue() = 0;
  // A queue name that nobody declared.
  virtual std::string missing_queue() = 0;
  // Declares job queue NAME (e.g. a missing_queue() later on), deleted with the harness.
  virtual void declare_queue(const std::string& name) = 0;
  // Lets the broker work until COND holds or TIMEOUT passes on the harness's
  // clock (real: runs the loop; fake: moves its clock in small steps);
  // returns COND's last answer.
  virtual bool pump_until(const std::function<bool()>& cond, Duration timeout) = 0;
  // Time since the harness began, on the clock delays are measured by.
  virtual Duration elapsed() const = 0;
};

// Lets the broker work for D with nothing to wait for: to see that nothing more happens.
inline void settle(Harness& h, Duration d = 300ms) {
  h.pump_until([] { return false; }, d);
}

// Notices a callback that runs inside a call to the broker.
class ReentryProbe {
 public:
  template <typename Call>
  void call(Call&& broker_call) {
    ++depth_;
    std::forward<Call>(broker_call)();
    --depth_;
  }
  void callback() {
    if (depth_ > 0) ++violations_;
  }
  int violations() const { return violations_; }

 private:
  int depth_ = 0;
  int violations_ = 0;
};

// Collects publish completions.
struct Completions {
  std::vector<broker::PublishResult> results;
  broker::PublishCallback callback() {
    return [this](const broker::PublishResult& r) { results.push_back(r); };
  }
  std::size_t count(broker::PublishStatus status) const {
    return static_cast<std::size_t>(
        std::ranges::count(results, status, &broker::PublishResult::status));
  }
};

// A job whose first argument is SEQ, to be recognised on delivery.
inline Job job(const std::string& queue, int priority, int seq) {
  JobId::Bytes bytes{0xc0, 0x4f, 0x0b};
  for (std::size_t i = 0; i < 4; ++i)
    bytes[12 + i] = static_cast<std::uint8_t>(static_cast<unsigned>(seq) >> (8 * i));
  Job j;
  j.id = JobId::v4(bytes);
  j.task = "conformance.echo";
  j.queue = queue;
  j.priority = priority;
  j.args = nlohmann::json::array({seq});
  return j;
}

// The SEQ of a delivery's job, or -1 if it carries none.
inline int seq_of(const broker::Delivery& d) {
  if (!d.job || d.job->args.size() != 1 || !d.job->args[0].is_number_integer()) return -1;
  return d.job->args[0].get<int>();
}

// Publishes JOBS and lets the broker work until each is confirmed.
inline void publish_all(Harness& h, const std::vector<Job>& jobs) {
  Completions done;
  for (const auto& j : jobs)
    h.broker().publish(j, done.callback());
  REQUIRE(h.pump_until([&] { return done.results.size() >= jobs.size(); }, 30s));
  REQUIRE(done.count(broker::PublishStatus::Confirmed) == jobs.size());
}

// (1) Each publish, of whatever kind, completes exactly once, and never inside the call.
inline void every_publish_completes_once(Harness& h) {
  const std::string q = h.new_queue();
  constexpr int kJobs = 50;
  std::vector<int> calls(kJobs + 2, 0);
  std::vector<broker::PublishStatus> status(kJobs + 2, broker::PublishStatus::Failed);
  ReentryProbe probe;
  auto done = [&](int i) {
    return [&, i](const broker::PublishResult& r) {
      probe.callback();
      ++calls[static_cast<std::size_t>(i)];
      status[static_cast<std::size_t>(i)] = r.status;
    };
  };
  for (int i = 0; i < kJobs; ++i)
    probe.call([&] { h.broker().publish(job(q, i % 10, i), done(i)); });
  probe.call([&] { h.broker().publish({"", q, encode_job(job(q, 0, kJobs)), done(kJobs)}); });
  probe.call([&] { h.broker().publish_delayed(job(q, 0, kJobs + 1), 1s, done(kJobs + 1)); });
  REQUIRE(h.pump_until([&] { return std::ranges::count(calls, 0) == 0; }, 30s));
  settle(h);
  CHECK(std::ranges::count(calls, 1) == kJobs + 2);
  CHECK(std::ranges::count(status, broker::PublishStatus::Confirmed) == kJobs + 2);
  CHECK(probe.violations() == 0);
}

// (2) Prefetch 1: ~200 jobs of mixed priorities come out by priority, then FIFO.
inline void priority_then_fifo(Harness& h) {
  const std::string q = h.new_queue();
  std::mt19937 rng(2024);
  std::vector<Job> jobs;
  for (int i = 0; i < 200; ++i)
    jobs.push_back(job(q, static_cast<int>(rng() % 10), i));
  publish_all(h, jobs);
  std::vector<Job> expected = jobs;
  std::ranges::stable_sort(expected, std::greater<>{}, &Job::priority);
  std::vector<int> want;
  for (const auto& j : expected)
    want.push_back(j.args[0].get<int>());

  std::vector<int> seen;
  h.broker().consume({q}, 1, [&](broker::Delivery&& d) {
    seen.push_back(seq_of(d));
    CHECK(h.broker().ack(d));
  });
  REQUIRE(h.pump_until([&] { return seen.size() >= jobs.size(); }, 60s));
  settle(h);
  CHECK(seen == want);
}

// (3) reject(requeue) brings a job back first, marked redelivered; ack and
// reject(requeue=false) remove it for good.
inline void reject_requeue_redelivers(Harness& h) {
  const std::string q = h.new_queue();
  publish_all(h, {job(q, 5, 0), job(q, 5, 1), job(q, 5, 2)});
  std::vector<std::pair<int, bool>> seen; // (seq, redelivered)
  h.broker().consume({q}, 1, [&](broker::Delivery&& d) {
    seen.emplace_back(seq_of(d), d.redelivered);
    if (seen.size() == 1) {
      CHECK(h.broker().reject(d, true));
    } else if (seen.size() == 3) {
      CHECK(h.broker().reject(d, false));
    } else {
      CHECK(h.broker().ack(d));
    }
  });
  REQUIRE(h.pump_until([&] { return seen.size() >= 4; }, 30s));
  settle(h);
  const std::vector<std::pair<int, bool>> want{{0, false}, {0, true}, {1, false}, {2, false}};
  CHECK(seen == want);
}

// (4) Prefetch N: at most N unacked deliveries; each ack frees room for one
// more, and ack(multiple) frees every earlier delivery of the channel too.
inline void prefetch_caps_unacked(Harness& h) {
  const std::string q = h.new_queue();
  std::vector<Job> jobs;
  for (int i = 0; i < 8; ++i)
    jobs.push_back(job(q, 0, i));
  publish_all(h, jobs);
  ReentryProbe probe;
  std::vector<broker::Delivery> held;
  h.broker().consume({q}, 3, [&](broker::Delivery&& d) {
    probe.callback();
    held.push_back(std::move(d));
  });
  auto holds = [&](std::size_t n) {
    REQUIRE(h.pump_until([&] { return held.size() >= n; }, 30s));
    settle(h);
    CHECK(held.size() == n);
  };
  auto ack = [&](std::size_t i, bool multiple) {
    bool ok = false;
    probe.call([&] { ok = h.broker().ack(held.at(i), multiple); });
    CHECK(ok);
  };
  holds(3);
  ack(0, false);
  holds(4);
  ack(3, true); // acks deliveries 1..3
  holds(7);
  ack(6, true);
  holds(8);
  ack(7, false);
  for (std::size_t i = 0; i < held.size(); ++i)
    CHECK(seq_of(held[i]) == static_cast<int>(i));
  CHECK(probe.violations() == 0);
}

// (5) A job delayed by 1 s arrives, and no earlier than 1 s after the publish.
inline void delay_arrives_no_earlier(Harness& h) {
  const std::string q = h.new_queue();
  std::vector<std::pair<int, Duration>> arrived; // (seq, elapsed)
  h.broker().consume({q}, 10, [&](broker::Delivery&& d) {
    arrived.emplace_back(seq_of(d), h.elapsed());
    CHECK(h.broker().ack(d));
  });
  Completions done;
  const Duration start = h.elapsed();
  h.broker().publish_delayed(job(q, 0, 1), 1s, done.callback());
  REQUIRE(h.pump_until([&] { return !arrived.empty(); }, 10s));
  settle(h);
  CHECK(done.results.size() == 1);
  CHECK(done.count(broker::PublishStatus::Confirmed) == 1);
  REQUIRE(arrived.size() == 1);
  CHECK(arrived[0].first == 1);
  const auto waited =
      std::chrono::duration_cast<std::chrono::milliseconds>(arrived[0].second - start);
  INFO("arrived after ", waited.count(), " ms");
  CHECK(waited >= 1s);
}

// (6) A publish that reaches no queue completes as Returned, job or raw.
inline void unroutable_publish_returns(Harness& h) {
  const std::string missing = h.missing_queue();
  Completions done;
  h.broker().publish(job(missing, 3, 1), done.callback());
  h.broker().publish({"", missing, encode_job(job(missing, 0, 2)), done.callback()});
  REQUIRE(h.pump_until([&] { return done.results.size() >= 2; }, 30s));
  settle(h);
  REQUIRE(done.results.size() == 2);
  for (const auto& r : done.results) {
    INFO(r.detail);
    CHECK(r.status == broker::PublishStatus::Returned);
    CHECK(r.detail.find("NO_ROUTE") != std::string::npos);
  }
}

// (7) A message that is not a valid Celery message is delivered with the
// codec's error and the raw message, and reject(requeue=false) removes it.
inline void undecodable_message_delivered_raw(Harness& h) {
  const std::string q = h.new_queue();
  Message no_task;
  no_task.body = "{not json";
  Message bad_body = encode_job(job(q, 0, 1));
  bad_body.body = "[[1], {}";
  Completions done;
  h.broker().publish({"", q, no_task, done.callback()});
  h.broker().publish({"", q, bad_body, done.callback()});
  REQUIRE(h.pump_until([&] { return done.results.size() >= 2; }, 30s));
  REQUIRE(done.count(broker::PublishStatus::Confirmed) == 2);
  std::vector<broker::Delivery> got;
  h.broker().consume({q}, 5, [&](broker::Delivery&& d) {
    CHECK(h.broker().reject(d, false));
    got.push_back(std::move(d));
  });
  REQUIRE(h.pump_until([&] { return got.size() >= 2; }, 30s));
  settle(h);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(got[0].job.has_value());
  CHECK(got[0].error == "headers.task: missing (not a Celery protocol v2 message)");
  CHECK(got[0].raw.body == no_task.body);
  CHECK_FALSE(got[1].job.has_value());
  CHECK(got[1].error.value_or("").size() > 0);
  CHECK(got[1].raw.body == bad_body.body);
  CHECK(got[1].raw.properties.correlation_id == bad_body.properties.correlation_id);
}

// (8) Two queues consumed in order of preference both deliver, and each
// delivery names its queue and that queue's rank.
inline void preference_order_named(Harness& h) {
  const std::string high = h.new_queue();
  const std::string low = h.new_queue();
  publish_all(h, {job(high, 0, 0), job(low, 0, 10), job(high, 0, 1), job(low, 0, 11),
                  job(high, 0, 2), job(low, 0, 12)});
  std::vector<int> from_high;
  std::vector<int> from_low;
  h.broker().consume({high, low}, 2, [&](broker::Delivery&& d) {
    const bool is_high = d.queue == high;
    CHECK((is_high || d.queue == low));
    CHECK(d.preference == (is_high ? 0 : 1));
    CHECK((d.job && d.job->queue == d.queue));
    (is_high ? from_high : from_low).push_back(seq_of(d));
    CHECK(h.broker().ack(d));
  });
  REQUIRE(h.pump_until([&] { return from_high.size() + from_low.size() >= 6; }, 30s));
  settle(h);
  CHECK(from_high == std::vector<int>{0, 1, 2});
  CHECK(from_low == std::vector<int>{10, 11, 12});
}

// (9) A body over max_body_bytes (the default limit, which both harnesses
// keep) is delivered without it, with an error naming its size and the limit
// and the properties to dead-letter it by; the next message comes through.
inline void oversized_body_delivered_without_it(Harness& h) {
  const std::string q = h.new_queue();
  const std::size_t limit = CodecLimits{}.max_body_bytes;
  Message big = encode_job(job(q, 0, 1));
  big.body.assign(limit + 1, ' ');
  Completions done;
  h.broker().publish({"", q, big, done.callback()});
  h.broker().publish(job(q, 0, 2), done.callback());
  REQUIRE(h.pump_until([&] { return done.results.size() >= 2; }, 30s));
  REQUIRE(done.count(broker::PublishStatus::Confirmed) == 2);
  std::vector<broker::Delivery> got;
  h.broker().consume({q}, 5, [&](broker::Delivery&& d) {
    CHECK(h.broker().ack(d));
    got.push_back(std::move(d));
  });
  REQUIRE(h.pump_until([&] { return got.size() >= 2; }, 30s));
  settle(h);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(got[0].job.has_value());
  CHECK(got[0].error == broker::body_too_large(limit + 1, limit));
  CHECK(got[0].raw.body.empty());
  CHECK(got[0].raw.properties.correlation_id == big.properties.correlation_id);
  CHECK(seq_of(got[1]) == 2);
}

// (10) consume() of a queue that does not exist does not fail: that queue's
// subscription is Retrying with the broker's 404 reason, publishing carries
// on, and once the queue is declared it subscribes by itself and delivers.
inline void refused_subscription_retries(Harness& h) {
  const std::string missing = h.missing_queue();
  const std::string other = h.new_queue();
  std::vector<int> seen;
  h.broker().consume({missing}, 5, [&](broker::Delivery&& d) {
    seen.push_back(seq_of(d));
    CHECK(h.broker().ack(d));
  });
  settle(h);
  const auto before = h.broker().subscriptions();
  REQUIRE(before.size() == 1);
  CHECK(before[0].queue == missing);
  CHECK(before[0].status == broker::SubscriptionStatus::Retrying);
  INFO(before[0].error);
  CHECK(before[0].error.find("404") != std::string::npos);
  CHECK(before[0].error.find("'" + missing + "'") != std::string::npos);
  publish_all(h, {job(other, 0, 1)});

  h.declare_queue(missing);
  REQUIRE(h.pump_until(
      [&] {
        const auto now = h.broker().subscriptions();
        return now.size() == 1 && now[0].status == broker::SubscriptionStatus::Subscribed;
      },
      60s));
  CHECK(h.broker().subscriptions()[0].error.empty());
  publish_all(h, {job(missing, 0, 2)});
  REQUIRE(h.pump_until([&] { return !seen.empty(); }, 30s));
  settle(h);
  CHECK(seen == std::vector<int>{2});
}

} // namespace celeriac::test::conformance
