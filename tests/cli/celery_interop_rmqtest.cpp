// Celery interop, both ways, against the private servers: a real Celery 5
// client (Debian's python3-celery) sends demo.add to `celeriac worker`, and
// the outcome is in the store; `celeriac enqueue` reaches a real Celery
// worker, whose demo.add writes what it saw to a marker file. The Python side
// is celery_app/celery_interop.py, configured as docs/celery-interop.md says.
// Without /usr/bin/python3 and Celery 5 these tests fail: scripts/setup
// installs python3-celery.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <optional>

#include "cli_queues.hpp"

using celeriac::test::CliProcess;
using celeriac::test::CliQueues;
using celeriac::test::Program;
using celeriac::test::run_celeriac;
using celeriac::test::run_program;
using celeriac::test::ScratchConfig;

namespace {

const Program kPython{"/usr/bin/python3"}; // Debian's, where python3-celery installs Celery
const std::string kAppDir = std::string(CELERIAC_CLI_TESTS_DIR) + "/celery_app";
constexpr auto kDeadline = std::chrono::seconds(60);

// The environment of the Python side: the broker and queue of CliQueues, and
// no bytecode written into the source tree.
std::map<std::string, std::string> python_env(const CliQueues& q, const std::string& home) {
  return {{"PATH", "/usr/bin:/bin"},
          {"LANG", "C.UTF-8"},
          {"HOME", home},
          {"PYTHONPATH", kAppDir},
          {"PYTHONDONTWRITEBYTECODE", "1"},
          {"CELERIAC_BROKER_URL", q.env.at("CELERIAC_BROKER_URL")},
          {"CELERIAC_INTEROP_QUEUE", q.main}};
}

void require_celery(const std::map<std::string, std::string>& env) {
  REQUIRE_MESSAGE(std::filesystem::exists(kPython.path),
                  kPython.path << " is missing: scripts/setup installs python3-celery");
  const auto r = run_program(
      kPython, {"-c", "import celery, sys; sys.exit(0 if celery.VERSION[0] == 5 else 3)"}, env);
  REQUIRE_MESSAGE(r.code == 0, "Celery 5 is not importable by "
                                   << kPython.path
                                   << " (scripts/setup installs python3-celery): " << r.err);
}

// Runs the Celery client: sends CASE of celery_interop.py and returns the task id.
std::string celery_send(const std::string& case_name, const std::map<std::string, std::string>& env,
                        bool uuid_id = true) {
  const auto r = run_program(kPython, {kAppDir + "/celery_interop.py", "send", case_name}, env);
  REQUIRE_MESSAGE(r.code == 0, "the Celery client failed to send " << case_name << ": " << r.err);
  REQUIRE(!r.out.empty());
  const std::string id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(celeriac::JobId::parse(id).has_value() == uuid_id);
  return id;
}

// The job's row in the schema's `jobs` table, as JSON.
nlohmann::json job_row(const CliQueues& q, const std::string& id) {
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};
  pqxx::work tx{conn};
  const auto row = tx.exec_params1(
      "select json_build_object('task', task, 'queue', queue, 'priority', priority, 'state', "
      "state, 'args', args, 'kwargs', kwargs, 'result', result, 'error_type', error_type, "
      "'error_message', error_message, 'retries', retries, 'has_eta', eta is not null, "
      "'has_expires', expires is not null, 'started_after_eta', started_at >= eta)::text from " +
          tx.quote_name(q.schema) + ".jobs where id = $1",
      id);
  return nlohmann::json::parse(row[0].as<std::string>());
}

// Deletes the direct exchange named like the queue that Celery declares and
// binds (its task_default_exchange), once the test is done.
struct CeleryExchange {
  CliQueues& q;
  ~CeleryExchange() {
    // The fixture's connection may have been lost while its loop was not run
    // (say, a broker restart): let the loop notice, and reconnect, first.
    uv_run(&q.broker.loop, UV_RUN_NOWAIT);
    if (!celeriac::test::run_until(
            &q.broker.loop, [&] { return q.broker.broker->connected(); },
            std::chrono::seconds(10))) {
      MESSAGE("exchange " << q.main << " not deleted: no broker connection");
      return;
    }
    auto& c = q.broker.broker->connection();
    amqp_exchange_delete(c.native(), celeriac::broker::Broker::kAdminChannel,
                         amqp_cstring_bytes(q.main.c_str()), 0);
    try {
      c.check_reply(celeriac::broker::Broker::kAdminChannel, "exchange.delete");
    } catch (const std::exception& e) {
      MESSAGE("exchange " << q.main << " not deleted: " << std::string(e.what()));
    }
  }
};

// What the Celery worker's demo.add wrote for task ID, once it has run.
std::optional<nlohmann::json> marker(const std::filesystem::path& dir, const std::string& id) {
  std::ifstream in(dir / (id + ".json"));
  if (!in) return std::nullopt;
  return nlohmann::json::parse(in);
}

std::string enqueued_id(const celeriac::test::CliResult& r) {
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string id = r.out.substr(0, r.out.find('\n'));
  REQUIRE(celeriac::JobId::parse(id).has_value());
  return id;
}

} // namespace

TEST_CASE("a Celery 5 client's demo.add runs in `celeriac worker`; the outcome is in the store") {
  CliQueues q;
  CeleryExchange exchange{q};
  ScratchConfig home{""}; // a scratch directory: the Python side's HOME and cwd
  const auto env = python_env(q, home.dir.string());
  require_celery(env);
  REQUIRE(run_celeriac({"migrate"}, q.env).code == 0);
  CliProcess worker({"worker", "-Q", q.main, "-c", "2"}, q.env);

  // The queue exists (CliQueues declared it as celeriac does): each send
  // redeclares it, so a mismatch of arguments would fail here.
  const auto add = celery_send("add", env);
  const auto kwargs = celery_send("kwargs_priority_limits", env);
  const auto countdown = celery_send("countdown", env);
  const auto bad = celery_send("bad_argument", env);
  CHECK(celery_send("custom_id", env, false) == "report-42");
  REQUIRE_MESSAGE(!worker.exited(), "celeriac worker exited: " << worker.finish().err);

  for (const auto& [id, result] : {std::pair{add, "5"}, {kwargs, "3.5"}, {countdown, "42"}}) {
    const auto r = run_celeriac({"result", id, "--wait", "--timeout", "60s"}, q.env);
    CHECK_MESSAGE(r.code == 0, id << ": " << r.err);
    CHECK(r.out == std::string(result) + "\n");
  }
  const auto failed = run_celeriac({"result", bad, "--wait", "--timeout", "60s"}, q.env);
  CHECK(failed.code == 1);

  auto row = job_row(q, add);
  CHECK(row["state"] == "SUCCESS");
  CHECK(row["task"] == "demo.add");
  CHECK(row["queue"] == q.main);
  CHECK(row["args"] == nlohmann::json::array({2, 3}));
  CHECK(row["result"] == 5);
  CHECK(row["priority"] == 0);
  CHECK(row["retries"] == 0);

  row = job_row(q, kwargs);
  CHECK(row["state"] == "SUCCESS");
  CHECK(row["kwargs"] == nlohmann::json{{"a", 1.5}, {"b", 2}});
  CHECK(row["result"] == 3.5);
  CHECK(row["priority"] == 7);
  CHECK(row["has_expires"] == true);

  row = job_row(q, countdown); // Celery's eta header: the job waited for it
  CHECK(row["state"] == "SUCCESS");
  CHECK(row["has_eta"] == true);
  CHECK(row["started_after_eta"] == true);

  row = job_row(q, bad);
  CHECK(row["state"] == "FAILURE");
  CHECK(row["error_message"].get<std::string>().find("a: must be a number") != std::string::npos);
  // Dead letters: the FAILURE (every one is), and the message whose id is
  // not a UUID, which no record can key. A record may commit before its dead
  // letter is confirmed, hence the wait.
  std::vector<celeriac::broker::Delivery> dead;
  q.broker.broker->consume({q.main + ".dead"}, 10,
                           [&](celeriac::broker::Delivery&& d) { dead.push_back(std::move(d)); });
  REQUIRE(celeriac::test::run_until(
      &q.broker.loop, [&] { return dead.size() == 2; }, std::chrono::seconds(10)));
  const auto refused = std::find_if(dead.begin(), dead.end(), [](const auto& d) {
    return d.error && d.error->find("headers.id: bad UUID 'report-42'") != std::string::npos;
  });
  CHECK(refused != dead.end());
  CHECK(std::any_of(dead.begin(), dead.end(),
                    [&](const auto& d) { return d.job && d.job->id.str() == bad; }));
  pqxx::connection conn{celeriac::test::required_env("CELERIAC_DATABASE_URL")};
  CHECK(pqxx::work{conn}
            .exec1("select count(*) from " + conn.quote_name(q.schema) + ".jobs")[0]
            .as<int>() == 4);

  worker.signal(SIGTERM);
  const auto stopped = worker.finish(kDeadline);
  CHECK_MESSAGE(stopped.code == 0, stopped.err);
  CHECK(q.depth(q.main) == 0);
}

TEST_CASE(
    "`celeriac enqueue` reaches a Celery 5 worker, which runs demo.add with the job's "
    "arguments") {
  CliQueues q;
  CeleryExchange exchange{q};
  ScratchConfig home{""}; // a scratch directory: the Python side's HOME and cwd
  auto env = python_env(q, home.dir.string());
  require_celery(env);
  const auto markers = home.dir / "markers";
  std::filesystem::create_directory(markers);
  env["CELERIAC_INTEROP_MARKERS"] = markers.string();
  CliProcess celery(
      kPython,
      {"-m", "celery", "-A", "celery_interop", "worker", "-Q", q.main, "--pool", "solo",
       "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"},
      env, home.dir.string());

  const auto add = enqueued_id(q.enqueue({"--queue", q.main, "--args", "[2, 3]"}));
  const auto kwargs = enqueued_id(
      q.enqueue({"--queue", q.main, "--kwargs", R"({"a": 1.5, "b": 2})", "--priority", "7",
                 "--soft-time-limit", "20s", "--hard-time-limit", "30s", "--expires", "10m"}));
  const double countdown_from =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto countdown =
      enqueued_id(q.enqueue({"--queue", q.main, "--args", "[20, 22]", "--countdown", "2s"}));

  std::map<std::string, nlohmann::json> seen;
  celeriac::test::eventually(
      [&] {
        for (const auto& id : {add, kwargs, countdown}) {
          if (seen.count(id) == 0) {
            if (auto m = marker(markers, id)) seen[id] = *m;
          }
        }
        return seen.size() == 3 || celery.exited();
      },
      kDeadline, std::chrono::milliseconds(50));
  celery.signal(SIGTERM);
  const auto stopped = celery.finish(kDeadline);
  REQUIRE_MESSAGE(seen.size() == 3, "the Celery worker ran "
                                        << seen.size() << " of 3 jobs; its log: " << stopped.err);
  CHECK_MESSAGE(stopped.code == 0, stopped.err);

  const auto& a = seen[add];
  CHECK(a["id"] == add);
  CHECK(a["task"] == "demo.add");
  CHECK(a["args"] == nlohmann::json::array({2, 3}));
  CHECK(a["result"] == 5);
  CHECK(a["retries"] == 0);
  CHECK(a["routing_key"] == q.main);

  const auto& k = seen[kwargs];
  CHECK(k["kwargs"] == nlohmann::json{{"a", 1.5}, {"b", 2}});
  CHECK(k["result"] == 3.5);
  CHECK(k["priority"] == 7);
  CHECK(k["timelimit"] == nlohmann::json::array({30, 20})); // [hard, soft], as Celery reads it
  CHECK(k["expires"].is_string());

  const auto& c = seen[countdown]; // through celeriac's delay levels, then Celery's eta
  CHECK(c["result"] == 42);
  CHECK(c["eta"].is_string());
  CHECK(c["ran_at"].get<double>() >= countdown_from + 2.0);

  CHECK(q.depth(q.main) == 0); // acked (acks_late: after the task ran)
}
