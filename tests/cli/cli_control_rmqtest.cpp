// The control exchange end to end: `celeriac control ping | shutdown |
// rate_limit` against running `celeriac worker` daemons, and `worker -E`
// task events on celeryev. Tests run side by side on one broker, and control
// commands are broadcasts: every command here names its workers with
// --destination so that it never reaches another test's worker.
#include <doctest/doctest.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <sstream>
#include <thread>

#include "cli_queues.hpp"

using namespace std::chrono_literals;
using celeriac::test::CliProcess;
using celeriac::test::CliQueues;
using celeriac::test::CliResult;
using celeriac::test::run_celeriac;
using nlohmann::json;

namespace {

std::string worker_name(const CliProcess& worker) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(worker.pid());
}

CliResult control(CliQueues& q, std::vector<std::string> args) {
  args.insert(args.begin(), "control");
  return run_celeriac(args, q.env);
}

// Pings NAMES until every one answered (the workers are starting), for up to 60 s.
json ping_until_all_answer(CliQueues& q, const std::vector<std::string>& names) {
  std::string destination;
  for (const auto& name : names)
    destination += (destination.empty() ? "" : ",") + name;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto r = control(q, {"ping", "--json", "--timeout", "2s", "--destination", destination});
    if (r.code == 0) {
      const json answers = json::parse(r.out);
      if (answers.size() == names.size()) return answers;
    }
  }
  FAIL("workers " << destination << " never all answered a ping");
  return {};
}

} // namespace

TEST_CASE("control ping finds each worker by name; control shutdown stops only the one named") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  CliProcess first({"worker", "-Q", q.main, "-c", "1", "--pool", "thread"}, q.env);
  CliProcess second({"worker", "-Q", q.main, "-c", "1", "--pool", "thread"}, q.env);
  const std::string a = worker_name(first), b = worker_name(second);

  const json both = ping_until_all_answer(q, {a, b});
  for (const auto& answer : both)
    CHECK(answer["reply"] == json{{"ok", "pong"}});

  const auto only_a = control(q, {"ping", "--json", "--destination", a});
  REQUIRE_MESSAGE(only_a.code == 0, only_a.err);
  const json answers = json::parse(only_a.out);
  REQUIRE(answers.size() == 1);
  CHECK(answers[0]["worker"] == a);

  const auto shutdown = control(q, {"shutdown", "--destination", a});
  CHECK_MESSAGE(shutdown.code == 0, shutdown.err);
  CHECK(shutdown.out == a + ": shutting down\n");
  const auto stopped = first.finish(60s);
  CHECK_MESSAGE(stopped.code == 0, stopped.err);
  CHECK(stopped.err.find("shutdown asked for on the control exchange") != std::string::npos);
  ping_until_all_answer(q, {b}); // the other one runs on

  const auto nobody = control(q, {"ping", "--timeout", "300ms", "--destination", "nobody:1"});
  CHECK(nobody.code == 1);
  CHECK(nobody.err.find("no worker answered") != std::string::npos);
  second.signal(SIGTERM);
  CHECK(second.finish(60s).code == 0);
}

TEST_CASE("control rate_limit spaces a task's starts on the worker; bad rates are refused") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  CliProcess worker({"worker", "-Q", q.main, "-c", "2", "--pool", "thread"}, q.env);
  const std::string name = worker_name(worker);
  ping_until_all_answer(q, {name});

  auto r = control(q, {"rate_limit", "demo.add", "fast", "--destination", name});
  CHECK(r.code == 2);
  CHECK(r.err.find("'fast' is not a rate") != std::string::npos);
  r = control(q, {"rate_limit", "no.such_task", "1/s", "--destination", name});
  CHECK(r.code == 1); // the worker answered with an error
  CHECK(r.out.find("no task 'no.such_task'") != std::string::npos);
  r = control(q, {"rate_limit", "demo.add", "4/s", "--destination", name});
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == name + ": rate limit of demo.add set to 4/s\n");

  constexpr int kJobs = 5;
  for (int i = 0; i < kJobs; ++i)
    REQUIRE(q.enqueue({"--queue", q.main, "--args", "[1, 2]"}).code == 0);
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};
  const std::string jobs = conn.quote_name(q.schema) + ".jobs";
  std::vector<double> starts;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    pqxx::work tx{conn};
    const auto rows = tx.exec("select extract(epoch from started_at)::float8 from " + jobs +
                              " where state = 'SUCCESS' order by started_at");
    if (rows.size() == kJobs) {
      for (const auto& row : rows)
        starts.push_back(row[0].as<double>());
      break;
    }
    std::this_thread::sleep_for(50ms); // polling the database, with the deadline above
  }
  REQUIRE(starts.size() == kJobs);
  // 4/s: each job reserves a start slot 250 ms after the previous one's. The
  // stored start is taken a little after the slot, by however long the job
  // took to get going, so single gaps may come out a few ms short of 250; the
  // span over all of them cannot.
  for (std::size_t i = 1; i < starts.size(); ++i)
    CHECK_MESSAGE(starts[i] - starts[i - 1] >= 0.2, "start " << i);
  CHECK(starts.back() - starts.front() >= 0.25 * (kJobs - 1) - 0.02);

  r = control(q, {"rate_limit", "demo.add", "0", "--destination", name});
  CHECK(r.out == name + ": rate limit of demo.add lifted\n");
  worker.signal(SIGTERM);
  CHECK(worker.finish(60s).code == 0);
}

TEST_CASE("worker -E sends Celery task events on celeryev") {
  CliQueues q;
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  std::vector<json> events;
  std::string listening;
  celeriac::broker::PrivateQueue tap;
  tap.bind_exchange = "celeryev";
  tap.on_ready = [&](const std::string& name) { listening = name; };
  tap.on_message = [&](celeriac::broker::InboundMessage&& m) {
    events.push_back(json::parse(m.message.body));
    events.back()["routing_key"] = m.routing_key;
  };
  q.broker.broker->listen(std::move(tap));
  REQUIRE(!listening.empty());

  CliProcess worker(
      {"worker", "-Q", q.main, "-c", "1", "--pool", "thread", "-E", "--log-format", "json"}, q.env);
  const std::string name = worker_name(worker);
  const auto added = q.enqueue({"--queue", q.main, "--args", "[20, 22]", "--wait"});
  REQUIRE_MESSAGE(added.code == 0, added.err);
  const std::string id = added.out.substr(0, added.out.find('\n'));

  auto of = [&](const std::string& type) -> const json* {
    for (const auto& e : events)
      if (e["type"] == type && e["hostname"] == name && (!e.contains("uuid") || e["uuid"] == id))
        return &e;
    return nullptr;
  };
  REQUIRE(celeriac::test::run_until(
      &q.broker.loop, [&] { return of("task-succeeded") && of("worker-heartbeat"); }, 30s));
  const json* received = of("task-received");
  REQUIRE(received != nullptr);
  CHECK((*received)["name"] == "demo.add");
  CHECK((*received)["routing_key"] == "task.received");
  REQUIRE(of("task-started") != nullptr);
  const json& succeeded = *of("task-succeeded");
  CHECK(succeeded["result"] == "42");
  CHECK(succeeded["runtime"].is_number());
  CHECK(succeeded["pid"] == worker.pid());
  CHECK(succeeded["clock"].get<int>() > (*received)["clock"].get<int>());
  CHECK(of("worker-online") != nullptr);

  const pid_t pid = worker.pid();
  worker.signal(SIGTERM);
  const auto stopped = worker.finish(60s);
  CHECK(stopped.code == 0);
  CHECK(celeriac::test::run_until(
      &q.broker.loop, [&] { return of("worker-offline") != nullptr; }, 10s));
  // --log-format json: every line of the log is one JSON object.
  std::istringstream log(stopped.err);
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines) {
    const json parsed = json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(parsed.is_object(), line);
    CHECK(parsed["level"].is_string());
    CHECK(parsed["message"].is_string());
    CHECK(parsed["pid"] == pid);
  }
  CHECK(lines > 2);
  CHECK(stopped.err.find("warm shutdown") != std::string::npos);
}
