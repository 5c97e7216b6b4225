// External-command tasks, run directly (no pool): small /bin/sh scripts for
// each way a command can end, big input and output both ways at once (a
// deadlock check), the stdout cap, the soft limit's SIGTERM and the hard
// limit's SIGKILL. Every test ends with no child left and no fd leaked.
#include "celeriac/worker/external_task.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "celeriac/core/error.hpp"
#include "celeriac/worker/task_outcome.hpp"
#include "numbered_job.hpp"
#include "pid_probe.hpp"

using namespace celeriac;
using namespace celeriac::worker;
using namespace std::chrono_literals;
using celeriac::test::alive;
using celeriac::test::dies_within;

namespace {

std::size_t open_fds() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
}

struct Fixture {
  test::JobNumbers numbers;
  const std::size_t fds_before = open_fds();

  ~Fixture() {
    CHECK(open_fds() == fds_before);
    CHECK(::waitpid(-1, nullptr, WNOHANG) == -1); // no child, not even a zombie
    CHECK(errno == ECHILD);
  }

  static ExternalCommand shell(const std::string& script) {
    ExternalCommand command;
    command.command = {"/bin/sh", "-c", script};
    return command;
  }

  TaskOutcome run(ExternalCommand command, Job job, TaskContext* context = nullptr) {
    const TaskDefinition definition{job.task, external_command_task(std::move(command)), {}};
    if (context != nullptr) return run_task(definition, *context);
    TaskContext own(job);
    return run_task(definition, own);
  }

  TaskOutcome run(const std::string& script, nlohmann::json args = nlohmann::json::array()) {
    return run(shell(script), numbers("ext.test", std::move(args)));
  }
};

Failed failed(const TaskOutcome& outcome) {
  REQUIRE(std::holds_alternative<Failed>(outcome));
  return std::get<Failed>(outcome);
}

nlohmann::json succeeded(const TaskOutcome& outcome) {
  if (const auto* f = std::get_if<Failed>(&outcome)) FAIL("failed: " << f->message);
  REQUIRE(std::holds_alternative<Succeeded>(outcome));
  return std::get<Succeeded>(outcome).result;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE_FIXTURE(Fixture, "exit 0: stdout is the result; the job arrives on stdin") {
  CHECK(succeeded(run("cat >/dev/null; echo '{\"sum\": 3}'")) == nlohmann::json{{"sum", 3}});
  CHECK(succeeded(run("cat >/dev/null")).is_null()); // no output: null

  Job job = numbers("ext.echo", {2, "x"});
  job.kwargs = {{"k", true}};
  job.retries = 2;
  job.soft_time_limit = 1500ms;
  const nlohmann::json input = succeeded(run(shell("cat"), job));
  CHECK(input == external_command_input(job));
  CHECK(input["args"] == nlohmann::json{2, "x"});
  CHECK(input["kwargs"]["k"] == true);
  CHECK(input["job"]["id"] == job.id.str());
  CHECK(input["job"]["task"] == "ext.echo");
  CHECK(input["job"]["retries"] == 2);
  CHECK(input["job"]["soft_time_limit"] == 1.5);
  CHECK(input["job"]["hard_time_limit"].is_null());
}

TEST_CASE_FIXTURE(Fixture, "env is set on top of the worker's environment; PATH is searched") {
  ExternalCommand command = shell("printf '[\"%s\", \"%s\"]' \"$GREETING\" \"${PATH:+path}\"");
  command.env = {{"GREETING", "hi there"}};
  CHECK(succeeded(run(command, numbers("ext.env", {}))) == nlohmann::json{"hi there", "path"});
  command.command = {"sh", "-c", "echo 7"};
  CHECK(succeeded(run(command, numbers("ext.path", {}))) == 7);
}

TEST_CASE_FIXTURE(Fixture, "exit 75 asks for a retry, with stdout's retry_after when given") {
  TaskOutcome outcome = run("echo 'JIRA said 429' >&2; exit 75");
  REQUIRE(std::holds_alternative<RetryRequested>(outcome));
  CHECK(std::get<RetryRequested>(outcome) == RetryRequested{std::nullopt, "JIRA said 429"});

  outcome = run("echo '{\"retry_after\": 2.5}'; exit 75");
  REQUIRE(std::holds_alternative<RetryRequested>(outcome));
  CHECK(std::get<RetryRequested>(outcome).after == Duration(2500ms));
  CHECK(std::get<RetryRequested>(outcome).reason == "the command asked to be retried (exit 75)");
}

TEST_CASE_FIXTURE(Fixture, "another exit status fails with the tail of stderr") {
  const Failed f =
      failed(run("head -c 5000 /dev/zero | tr '\\0' x >&2; echo ' the end' >&2; "
                 "exit 3"));
  CHECK(f.kind == ErrorKind::Unclassified);
  CHECK(f.message.starts_with("command '/bin/sh' exited with status 3: xxx"));
  CHECK(f.message.ends_with("xxx the end"));
  CHECK(f.message.size() < 2048 + 100);

  const Failed quiet = failed(run("exit 1"));
  CHECK(quiet.message == "command '/bin/sh' exited with status 1 (stderr was empty)");

  const Failed crashed = failed(run("kill -SEGV $$"));
  CHECK(contains(crashed.message, "was killed by signal 11"));
}

TEST_CASE_FIXTURE(Fixture, "stdout that is not JSON fails, naming the problem") {
  const Failed f = failed(run("echo 'all done!'"));
  CHECK(f.kind == ErrorKind::Validation);
  CHECK(contains(f.message, "exited 0 but its stdout is not JSON"));
  CHECK(contains(f.message, "it began with: all done!"));
  CHECK(failed(run("printf '\\377\\376 bytes'")).message.ends_with("?? bytes")); // valid UTF-8
}

TEST_CASE_FIXTURE(Fixture, "a program that cannot run fails permanently, naming it") {
  ExternalCommand missing;
  missing.command = {"/nonexistent/celeriac-render", "--pdf"};
  const Failed f = failed(run(missing, numbers("ext.missing", {})));
  CHECK(f.kind == ErrorKind::Validation);
  CHECK(f.message ==
        "cannot run command '/nonexistent/celeriac-render': No such file or directory");

  missing.command = {"celeriac-no-such-program"};
  CHECK(contains(failed(run(missing, numbers("ext.missing", {}))).message,
                 "cannot run command 'celeriac-no-such-program': not found in PATH"));

  ExternalCommand not_executable;
  not_executable.command = {"/etc/passwd"};
  CHECK(contains(failed(run(not_executable, numbers("ext.noexec", {}))).message,
                 "Permission denied"));
  CHECK_THROWS_AS(external_command_task(ExternalCommand{}), InvalidInput);
}

TEST_CASE_FIXTURE(Fixture, "megabytes both ways at once do not deadlock") {
  // The command writes a megabyte of stderr before it reads anything, then
  // echoes its 4 MiB input while we are still writing it.
  const std::string big(4 << 20, 'a');
  ExternalCommand command = shell("head -c 1000000 /dev/zero >&2; cat");
  command.max_output_bytes = 8 << 20;
  const nlohmann::json echoed = succeeded(run(command, numbers("ext.big", {big})));
  CHECK(echoed["args"][0] == big);

  // A command that never reads its input: EPIPE, not SIGPIPE.
  CHECK(succeeded(run(shell("echo 1"), numbers("ext.noread", {big}))) == 1);
}

TEST_CASE_FIXTURE(Fixture, "stdout past the cap kills the command and fails the job") {
  ExternalCommand command = shell("echo $$ >&2; while :; do echo 0123456789; done");
  command.max_output_bytes = 100000;
  const Failed f = failed(run(command, numbers("ext.flood", {})));
  CHECK(f.kind == ErrorKind::Validation);
  CHECK(contains(f.message, "wrote more than 100000 bytes to stdout"));
  CHECK(contains(f.message, "broker.max_body_bytes"));
}

TEST_CASE_FIXTURE(Fixture, "the soft limit sends SIGTERM to the command's process group") {
  Job job = numbers("ext.soft", {});
  TaskContext context(job);
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    context.cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  const TaskOutcome outcome = run(shell("sleep 30"), job, &context);
  canceller.join();
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(failed(outcome).type == "SoftTimeLimitExceeded");
  CHECK(failed(outcome).kind == ErrorKind::Timeout);

  // A command that handles SIGTERM may still answer.
  TaskContext polite(job);
  std::thread nudger([&] {
    std::this_thread::sleep_for(200ms);
    polite.cancel();
  });
  const TaskOutcome answered = run(
      shell("trap 'echo \"{\\\"partial\\\": true}\"; exit 0' TERM; sleep 30 & wait"), job, &polite);
  nudger.join();
  CHECK(succeeded(answered) == nlohmann::json{{"partial", true}});
}

TEST_CASE_FIXTURE(Fixture,
                  "the hard limit SIGKILLs a command that ignores SIGTERM, and its children") {
  Job job = numbers("ext.hard", {});
  job.hard_time_limit = 300ms;
  // The shell ignores SIGTERM, so does its background child; both report their pids.
  const std::string pids =
      std::filesystem::temp_directory_path() / ("celeriac-ext-" + std::to_string(::getpid()));
  const auto start = std::chrono::steady_clock::now();
  const Failed f = failed(
      run(shell("trap '' TERM; echo $$ > " + pids + "; sleep 30 & echo $! >> " + pids + "; wait"),
          job));
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  CHECK(f.kind == ErrorKind::Timeout);
  CHECK(contains(f.message, "hard time limit exceeded"));
  std::ifstream in(pids);
  long shell_pid = 0, sleep_pid = 0;
  in >> shell_pid >> sleep_pid;
  REQUIRE(sleep_pid > 0);
  CHECK(!alive(shell_pid));
  CHECK(dies_within(sleep_pid, 2s));
  std::filesystem::remove(pids);

  ExternalCommand with_default = shell("sleep 30");
  with_default.hard_time_limit = 200ms; // the task's, for a job that carries none
  CHECK(failed(run(with_default, numbers("ext.hard", {}))).kind == ErrorKind::Timeout);
}

TEST_CASE_FIXTURE(Fixture, "what a command leaves running in its group dies when it exits") {
  const nlohmann::json pid = succeeded(run("sleep 30 & echo $!"));
  REQUIRE(pid.is_number_integer());
  CHECK(dies_within(pid.get<long>(), 2s));
}
