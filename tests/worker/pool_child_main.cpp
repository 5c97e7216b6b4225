// The pool child the process pool's tests spawn: the demo tasks, in child mode.
#include <cstring>

#include "celeriac/tasks/demo.hpp"
#include "celeriac/worker/process_pool.hpp"

int main(int argc, char** argv) {
  if (argc != 2 || std::strcmp(argv[1], "--pool-child") != 0) return 64;
  celeriac::TaskRegistry registry;
  celeriac::tasks::register_demo_tasks(registry);
  return celeriac::worker::run_pool_child(registry, 3, 4);
}
