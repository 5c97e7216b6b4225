// The pool child the process pool's tests spawn: the demo tasks, in child
// mode, with the [tasks] of a configuration given as text laid over them
// (external-command tasks included), as `celeriac __pool-child` does.
#include <sched.h>

#include <cstring>

#include "celeriac/core/config.hpp"
#include "celeriac/tasks/demo.hpp"
#include "celeriac/worker/process_pool.hpp"
#include "celeriac/worker/task_config.hpp"
#include "job_description.hpp"

int main(int argc, char** argv) {
  const bool with_config = argc == 4 && std::strcmp(argv[2], "--config-text") == 0;
  if ((argc != 2 && !with_config) || std::strcmp(argv[1], "--pool-child") != 0) return 64;
  celeriac::TaskRegistry registry;
  celeriac::tasks::register_demo_tasks(registry);
  // The child's scheduling policy, for process_pool_test.
  registry.add("test.policy", [](celeriac::TaskContext&) { return sched_getscheduler(0); });
  // The job as the child received it, every field, for process_pool_test.
  registry.add("test.describe_job",
               [](celeriac::TaskContext& ctx) { return celeriac::test::describe(ctx.job()); });
  // Each kind of outcome, for process_pool_test: args[0] names it.
  registry.add("test.outcome", [](celeriac::TaskContext& ctx) -> nlohmann::json {
    using namespace std::chrono_literals;
    const std::string kind = ctx.job().args.at(0).get<std::string>();
    if (kind == "retry") throw celeriac::Retry{1500ms, "try later: \"quoted\""};
    if (kind == "reject") throw celeriac::Reject{"never again"};
    // With its quotes and the outcome's kind byte, exactly the frame limit, and one over.
    if (kind == "largest") return std::string((64u << 20) - 3, 'x');
    if (kind == "too large") return std::string((64u << 20) - 2, 'x');
    if (kind == "failure")
      throw celeriac::TaskFailure(celeriac::ErrorKind::Http, "slow down", 429, 30s);
    return nlohmann::json::parse(R"({"text": "välue\n", "n": [1, 2.5, null, true]})");
  });
  if (with_config) {
    celeriac::worker::apply_task_config(celeriac::parse_config(argv[3], "--config-text"), registry);
  }
  return celeriac::worker::run_pool_child(registry, 3, 4);
}
