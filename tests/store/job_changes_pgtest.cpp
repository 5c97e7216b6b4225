// apply_changes() against the private PostgreSQL: a job's life recorded step
// by step, stale changes that must not move a record back, a retried job, and
// many jobs whose changes arrive shuffled across batches.
#include "celeriac/store/job_changes.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "scratch_schema.hpp"

namespace {

using celeriac::Job;
using celeriac::JobId;
using celeriac::JobState;
using celeriac::Timestamp;
using celeriac::store::apply_changes;
using celeriac::store::JobChange;
using celeriac::store::JobError;
using celeriac::test::ScratchSchema;

std::mt19937_64 rng{std::random_device{}()};

Job test_job(const std::string& task = "reports.build") {
  JobId::Bytes bytes;
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(rng());
  Job job;
  job.id = JobId::v4(bytes);
  job.task = task;
  job.queue = "default";
  job.priority = 3;
  job.args = {1, "two"};
  job.kwargs = {{"sprint", 42}};
  return job;
}

Timestamp at(int seconds) {
  return Timestamp{} + std::chrono::seconds(1'700'000'000 + seconds);
}

JobChange change(const Job& job, JobState state, int seconds, int retries = 0) {
  JobChange c = celeriac::store::job_change(job.id, state, at(seconds), retries);
  if (state == JobState::Received) {
    c.job = job;
    c.job->retries = retries;
    c.worker = "host-a:1";
  }
  if (state == JobState::Success) c.result = nlohmann::json{{"rows", 7}};
  if (state == JobState::Failure || state == JobState::Retry)
    c.error = JobError{"TimeoutError", "jira did not answer", "trace"};
  return c;
}

void apply(ScratchSchema& s, std::vector<JobChange> changes) {
  pqxx::work tx{s.conn};
  apply_changes(tx, s.name, changes);
  tx.commit();
}

struct Row {
  std::string state;
  int retries = 0;
  int deliveries = 0;
  std::optional<std::string> result, error_type, task, worker;
  bool has_enqueued = false, has_received = false, has_started = false, has_finished = false;
};

Row row(ScratchSchema& s, const JobId& id) {
  pqxx::work tx{s.conn};
  const auto r = tx.exec_params1(
      "select state, retries, deliveries, result::text, error_type, task, worker,"
      " enqueued_at is not null, received_at is not null, started_at is not null,"
      " finished_at is not null from " +
          s.table("jobs") + " where id = $1",
      id.str());
  Row out;
  out.state = r[0].as<std::string>();
  out.retries = r[1].as<int>();
  out.deliveries = r[2].as<int>();
  auto opt = [&](int i) {
    return r[i].is_null() ? std::nullopt : std::optional<std::string>(r[i].as<std::string>());
  };
  out.result = opt(3);
  out.error_type = opt(4);
  out.task = opt(5);
  out.worker = opt(6);
  out.has_enqueued = r[7].as<bool>();
  out.has_received = r[8].as<bool>();
  out.has_started = r[9].as<bool>();
  out.has_finished = r[10].as<bool>();
  return out;
}

TEST_CASE("a job's life, one change per batch, keeps every step") {
  ScratchSchema s;
  const Job job = test_job();
  apply(s, {celeriac::store::pending_change(job, at(0))});
  CHECK(row(s, job.id).state == "PENDING");
  apply(s, {change(job, JobState::Received, 1)});
  apply(s, {change(job, JobState::Started, 2)});
  apply(s, {change(job, JobState::Success, 3)});
  const Row r = row(s, job.id);
  CHECK(r.state == "SUCCESS");
  CHECK(r.result == R"({"rows": 7})");
  CHECK(r.task == "reports.build");
  CHECK(r.worker == "host-a:1");
  CHECK(r.deliveries == 1);
  CHECK((r.has_enqueued && r.has_received && r.has_started && r.has_finished));
  CHECK(s.scalar<std::string>("select args::text from " + s.table("jobs")) == R"([1, "two"])");
}

TEST_CASE("text that needs escaping is stored as given, invalid UTF-8 replaced") {
  ScratchSchema s;
  Job job = test_job("reports.\"quoted\" \\ task");
  job.queue = "tab\there";
  job.group = "group\nline";
  job.args = {"caf\u00e9 \xF0\x9F\x93\x8A", "\x01"};
  job.kwargs = {{"k\"ey", "a\\b"}};
  JobChange received = change(job, JobState::Received, 1);
  received.worker = "host \"b\":2";
  JobChange failed = change(job, JobState::Failure, 2);
  failed.error = JobError{"ValueError", "bad byte \xFF in \"row\"\n", "line 1\n\tline 2"};
  apply(s, {received, failed});
  pqxx::work tx{s.conn};
  const auto r = tx.exec_params1(
      "select task, queue, group_id, worker, args, kwargs, error_type,"
      " error_message, error_stack from " +
          s.table("jobs") + " where id = $1",
      job.id.str());
  CHECK(r[0].as<std::string>() == job.task);
  CHECK(r[1].as<std::string>() == "tab\there");
  CHECK(r[2].as<std::string>() == "group\nline");
  CHECK(r[3].as<std::string>() == "host \"b\":2");
  CHECK(nlohmann::json::parse(r[4].as<std::string>()) == job.args);
  CHECK(nlohmann::json::parse(r[5].as<std::string>()) == job.kwargs);
  CHECK(r[6].as<std::string>() == "ValueError");
  CHECK(r[7].as<std::string>() == "bad byte \xEF\xBF\xBD in \"row\"\n"); // U+FFFD
  CHECK(r[8].as<std::string>() == "line 1\n\tline 2");
}

TEST_CASE("every time is stored to the microsecond, before 1970 and far ahead too") {
  ScratchSchema s;
  Job job = test_job();
  const auto us = [](std::int64_t n) { return Timestamp{} + std::chrono::microseconds(n); };
  job.eta = us(-1'500'007);                  // 1969-12-31T23:59:58.499993Z
  job.expires = us(253'402'214'400'000'001); // 9999-12-31T00:00:00.000001Z
  JobChange pending = celeriac::store::pending_change(job, us(1'700'000'000'000'001));
  JobChange received = celeriac::store::received_change(job, us(1'700'000'000'123'456), "w:1");
  JobChange started = celeriac::store::job_change(job.id, JobState::Started, us(-999'999));
  JobChange done =
      celeriac::store::job_change(job.id, JobState::Success, us(1'700'000'001'999'999));
  apply(s, {pending});
  apply(s, {received, started, done});
  pqxx::work tx{s.conn};
  const auto r = tx.exec_params1(
      "select (extract(epoch from eta) * 1000000)::bigint, (extract(epoch from expires) * "
      "1000000)::bigint,"
      " (extract(epoch from enqueued_at) * 1000000)::bigint,"
      " (extract(epoch from received_at) * 1000000)::bigint,"
      " (extract(epoch from started_at) * 1000000)::bigint,"
      " (extract(epoch from finished_at) * 1000000)::bigint from " +
          s.table("jobs") + " where id = $1",
      job.id.str());
  CHECK(r[0].as<std::int64_t>() == -1'500'007);
  CHECK(r[1].as<std::int64_t>() == 253'402'214'400'000'001);
  CHECK(r[2].as<std::int64_t>() == 1'700'000'000'000'001);
  CHECK(r[3].as<std::int64_t>() == 1'700'000'000'123'456);
  CHECK(r[4].as<std::int64_t>() == -999'999);
  CHECK(r[5].as<std::int64_t>() == 1'700'000'001'999'999);
}

TEST_CASE("a STARTED change that carries its delivery counts as RECEIVED too") {
  ScratchSchema s;
  const Job job = test_job();
  JobChange started = change(job, JobState::Started, 2);
  started.job = job;
  started.worker = "host-a:1";
  started.received_at = at(1);
  apply(s, {started});
  Row r = row(s, job.id);
  CHECK(r.state == "STARTED");
  CHECK(r.deliveries == 1);
  CHECK(r.task == "reports.build");
  CHECK((r.has_received && r.has_started));
  CHECK(s.scalar<std::string>("select (received_at < started_at)::text from " + s.table("jobs")) ==
        "true");
  apply(s, {started, change(job, JobState::Success, 3)}); // a redelivery, then done
  r = row(s, job.id);
  CHECK(r.state == "SUCCESS");
  CHECK(r.deliveries == 2);
}

TEST_CASE("stale changes never move a finished job back") {
  ScratchSchema s;
  const Job job = test_job();
  apply(s, {change(job, JobState::Received, 1), change(job, JobState::Started, 2),
            change(job, JobState::Failure, 3)});
  apply(s, {change(job, JobState::Started, 2)});
  apply(s, {change(job, JobState::Received, 1)});
  apply(s, {celeriac::store::pending_change(job, at(0))});
  apply(s, {change(job, JobState::Success, 9)}); // a second terminal state loses to the first
  const Row r = row(s, job.id);
  CHECK(r.state == "FAILURE");
  CHECK(r.error_type == "TimeoutError");
  CHECK_FALSE(r.result.has_value());
  CHECK(r.deliveries == 2); // the stale RECEIVED still counts as a delivery
  CHECK(r.has_enqueued);    // filled in by the late PENDING
}

TEST_CASE("a change without a description creates the row; the description fills it later") {
  ScratchSchema s;
  const Job job = test_job();
  apply(s, {change(job, JobState::Started, 2)});
  CHECK_FALSE(row(s, job.id).task.has_value());
  apply(s, {change(job, JobState::Received, 1)});
  const Row r = row(s, job.id);
  CHECK(r.state == "STARTED");
  CHECK(r.task == "reports.build");
}

TEST_CASE("a retried job moves through its attempts and ends clean") {
  ScratchSchema s;
  const Job job = test_job();
  apply(s, {change(job, JobState::Received, 1, 0), change(job, JobState::Started, 2, 0),
            change(job, JobState::Retry, 3, 0)});
  Row r = row(s, job.id);
  CHECK(r.state == "RETRY");
  CHECK(r.error_type == "TimeoutError");
  apply(s, {change(job, JobState::Received, 10, 1)});
  r = row(s, job.id);
  CHECK(r.state == "RECEIVED");
  CHECK(r.retries == 1);
  CHECK(r.error_type == "TimeoutError"); // why it was retried stays visible
  apply(s, {change(job, JobState::Started, 11, 1), change(job, JobState::Success, 12, 1)});
  r = row(s, job.id);
  CHECK(r.state == "SUCCESS");
  CHECK_FALSE(r.error_type.has_value());
  CHECK(r.deliveries == 2);
}

TEST_CASE("many jobs whose changes arrive shuffled across batches end in their last state") {
  ScratchSchema s;
  constexpr int kJobs = 500;
  std::vector<JobChange> all;
  std::vector<std::pair<JobId, std::string>> expected;
  for (int i = 0; i < kJobs; ++i) {
    const Job job = test_job();
    const bool retried = i % 3 == 0;
    const JobState end = i % 5 == 0 ? JobState::Failure : JobState::Success;
    all.push_back(celeriac::store::pending_change(job, at(0)));
    all.push_back(change(job, JobState::Received, 1));
    all.push_back(change(job, JobState::Started, 2));
    if (retried) {
      all.push_back(change(job, JobState::Retry, 3));
      all.push_back(change(job, JobState::Received, 4, 1));
      all.push_back(change(job, JobState::Started, 5, 1));
    }
    all.push_back(change(job, end, 6, retried ? 1 : 0));
    expected.emplace_back(job.id, std::string(celeriac::to_string(end)));
  }
  std::shuffle(all.begin(), all.end(), rng);
  std::uniform_int_distribution<std::size_t> batch_size(1, 64);
  for (std::size_t from = 0; from < all.size();) {
    const std::size_t n = std::min(batch_size(rng), all.size() - from);
    apply(s, {all.begin() + static_cast<std::ptrdiff_t>(from),
              all.begin() + static_cast<std::ptrdiff_t>(from + n)});
    from += n;
  }
  int wrong = 0;
  for (const auto& [id, state] : expected) {
    const Row r = row(s, id);
    if (r.state != state || !r.task || !r.has_finished || r.deliveries < 1) ++wrong;
  }
  CHECK(wrong == 0);
  CHECK(s.scalar<long>("select count(*) from " + s.table("jobs")) == kJobs);
}

// Collects the store's job-done notifications on its own connection.
struct DoneReceiver : pqxx::notification_receiver {
  using pqxx::notification_receiver::notification_receiver;
  std::vector<std::string> payloads;
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  // True once COUNT notifications arrived (within 5 s).
  bool wait_for(std::size_t count) {
    return celeriac::test::eventually(
        [&] {
          conn().get_notifs();
          return payloads.size() >= count;
        },
        std::chrono::seconds(5));
  }
};

TEST_CASE("a terminal change notifies once, when its batch commits") {
  ScratchSchema s;
  const Job job = test_job();
  pqxx::connection listener{celeriac::test::database_url()};
  DoneReceiver receiver{listener, s.name + "_job_done"};
  apply(s, {change(job, JobState::Received, 1), change(job, JobState::Success, 3)});
  apply(s, {change(job, JobState::Failure, 4)}); // stale: no second notification
  // Notifications arrive in commit order: once the marker's is in, any from
  // the stale change would be too.
  const Job marker = test_job();
  apply(s, {change(marker, JobState::Revoked, 5)});
  REQUIRE(receiver.wait_for(2));
  CHECK(receiver.payloads == std::vector<std::string>{job.id.str(), marker.id.str()});
}

TEST_CASE("a job finished by an update notifies once, and so does each job of a batch") {
  ScratchSchema s;
  const Job updated = test_job(), other = test_job(), inserted = test_job();
  pqxx::connection listener{celeriac::test::database_url()};
  DoneReceiver receiver{listener, s.name + "_job_done"};
  apply(s, {change(updated, JobState::Received, 1), change(other, JobState::Received, 1)});
  apply(s, {change(updated, JobState::Started, 2), change(other, JobState::Started, 2)}); // none
  // One statement: an update to SUCCESS, an update that stays STARTED, an insert.
  apply(s, {change(updated, JobState::Success, 3), change(other, JobState::Started, 2),
            change(inserted, JobState::Failure, 3)});
  apply(s, {change(updated, JobState::Success, 4)}); // stale: no second notification
  const Job marker = test_job();
  apply(s, {change(marker, JobState::Revoked, 5)});
  REQUIRE(receiver.wait_for(3));
  std::vector<std::string> first_batch(receiver.payloads.begin(), receiver.payloads.end() - 1);
  std::sort(first_batch.begin(), first_batch.end());
  std::vector<std::string> expected{updated.id.str(), inserted.id.str()};
  std::sort(expected.begin(), expected.end());
  CHECK(first_batch == expected);
  CHECK(receiver.payloads.back() == marker.id.str());
}

} // namespace

TEST_CASE("apply_changes returns each job's deliveries after the batch") {
  ScratchSchema s;
  const Job a = test_job(), b = test_job();
  pqxx::work tx{s.conn};
  apply_changes(tx, s.name, std::vector<JobChange>{change(a, JobState::Received, 1)});
  const auto counts = apply_changes(
      tx, s.name,
      std::vector<JobChange>{change(a, JobState::Received, 2), change(b, JobState::Started, 3)});
  tx.commit();
  CHECK(counts == celeriac::store::DeliveryCounts{{a.id, 2}, {b.id, 0}});
}

TEST_CASE("a batch without a RECEIVED change reports no deliveries, and still writes") {
  ScratchSchema s;
  const Job a = test_job();
  pqxx::work tx{s.conn};
  const auto counts = apply_changes(
      tx, s.name,
      std::vector<JobChange>{change(a, JobState::Started, 1), change(a, JobState::Success, 2)});
  tx.commit();
  CHECK(counts.empty());
  CHECK(row(s, a.id).state == "SUCCESS");
}
