// enqueue --wait, result, status and revoke end to end: the `celeriac` child
// publishes and waits; this test plays the worker, taking the message from the
// queue and recording its outcome through the store's functions, as a worker
// does. Needs both private servers.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "celeriac/store/job_changes.hpp"
#include "celeriac/store/migrations.hpp"
#include "cli_queues.hpp"

namespace {

using celeriac::JobState;
using celeriac::test::CliProcess;
using celeriac::test::CliQueues;
using celeriac::test::run_celeriac;

celeriac::Timestamp now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// What a worker writes: RECEIVED, then the outcome, in one transaction.
void record_outcome(const std::string& schema, const celeriac::Job& job, JobState state,
                    std::optional<nlohmann::json> result,
                    std::optional<celeriac::store::JobError> error = std::nullopt) {
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};
  celeriac::store::JobChange outcome;
  outcome.id = job.id;
  outcome.state = state;
  outcome.at = now();
  outcome.worker = "fake-worker:1";
  outcome.result = std::move(result);
  outcome.error = std::move(error);
  pqxx::work tx{conn};
  celeriac::store::apply_changes(
      tx, schema, {{celeriac::store::received_change(job, now(), "fake-worker:1"), outcome}});
  tx.commit();
}

struct WaitFixture : CliQueues {
  WaitFixture() {
    const auto r = run_celeriac({"migrate"}, env);
    REQUIRE_MESSAGE(r.code == 0, r.err);
  }
};

} // namespace

TEST_CASE("enqueue --wait prints the id, then the result a worker recorded") {
  WaitFixture q;
  CliProcess child({"enqueue", "demo.add", "--args", "[2, 3]", "--wait", "--timeout", "30s"},
                   q.env);
  const celeriac::Job job = q.take(q.main);
  CHECK(job.args == nlohmann::json::array({2, 3}));
  record_outcome(q.schema, job, JobState::Success, nlohmann::json{{"sum", 5}});
  const auto r = child.finish();
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == job.id.str() + "\n{\"sum\":5}\n");
  CHECK(r.err.empty());

  // The record is there for result and status too.
  auto later = run_celeriac({"result", job.id.str()}, q.env);
  CHECK(later.code == 0);
  CHECK(later.out == "{\"sum\":5}\n");
  later = run_celeriac({"status", job.id.str(), "--json"}, q.env);
  CHECK(later.code == 0);
  CHECK(nlohmann::json::parse(later.out)["state"] == "SUCCESS");
  // Revoking a finished job keeps its state.
  later = run_celeriac({"revoke", job.id.str()}, q.env);
  CHECK(later.code == 0);
  CHECK(later.out.find("had already finished (SUCCESS)") != std::string::npos);
}

TEST_CASE("enqueue --wait --json, and a job that failed is exit 1") {
  WaitFixture q;
  CliProcess child({"enqueue", "demo.add", "--wait", "--json"}, q.env);
  const celeriac::Job job = q.take(q.main);
  record_outcome(q.schema, job, JobState::Failure, std::nullopt,
                 celeriac::store::JobError{"ValueError", "no such sprint", ""});
  const auto r = child.finish();
  CHECK(r.code == 1);
  const auto json = nlohmann::json::parse(r.out);
  CHECK(json["id"] == job.id.str());
  CHECK(json["state"] == "FAILURE");
  CHECK(json["error"]["message"] == "no such sprint");
  CHECK(r.err == fmt::format("celeriac enqueue: job {} ended in FAILURE: ValueError: no such "
                             "sprint\n",
                             job.id.str()));
}

TEST_CASE("enqueue --wait gives up after --timeout, exit 1, the message stays queued") {
  WaitFixture q;
  const auto r = run_celeriac({"enqueue", "demo.add", "--wait", "--timeout", "300ms"}, q.env);
  CHECK(r.code == 1);
  REQUIRE(r.out.size() == 37); // the id, printed before waiting
  CHECK(r.err.find("not finished after 300ms") != std::string::npos);
  CHECK(q.depth(q.main) == 1);
}

TEST_CASE("revoke a job that no worker has taken yet") {
  WaitFixture q;
  auto r = q.enqueue({});
  REQUIRE(r.code == 0);
  const std::string id = r.out.substr(0, 36);
  r = run_celeriac({"revoke", id, "--reason", "not needed", "--json"}, q.env);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto outcome = nlohmann::json::parse(r.out);
  CHECK(outcome["id"] == id);
  CHECK(outcome["broadcast"] == true);
  // Without track_pending the job had no record yet; the revoke is kept for the workers.
  CHECK(outcome["effect"] == "not_tracked");
  r = run_celeriac({"status", id}, q.env);
  CHECK(r.code == 1);
  CHECK(r.err.find("not found") != std::string::npos);
}
