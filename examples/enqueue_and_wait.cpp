// Enqueue one job and wait for its result: the smallest celeriac client.
//
//   enqueue_and_wait [config.toml] [task] [args-json] [timeout]
//   enqueue_and_wait celeriac.toml demo.add '[2, 3]' 30s
//
// The configuration is read from the file (default celeriac.toml, optional),
// then CELERIAC_* environment variables override it, as every celeriac
// process does. Exit status: 0 on SUCCESS, 1 if the job failed or was
// revoked, 2 on a timeout, 3 on bad input or an unreachable server.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "celeriac/client.hpp"

extern char** environ;

namespace {

celeriac::Config load_config(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  if (file) text << file.rdbuf(); // a missing file means the defaults
  celeriac::Config config = celeriac::parse_config(text.str(), path);

  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string line(*entry);
    const auto eq = line.find('=');
    if (eq != std::string::npos) env.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  celeriac::apply_environment(config, env);
  return config;
}

int run(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "celeriac.toml";
  const std::string task = argc > 2 ? argv[2] : "demo.add";
  const auto args = nlohmann::json::parse(argc > 3 ? argv[3] : "[2, 3]");
  const auto timeout = celeriac::parse_duration(argc > 4 ? argv[4] : "30s");
  if (!timeout) throw celeriac::InvalidInput("timeout", "not a duration, e.g. 30s");

  celeriac::Client client(load_config(path)); // connects to the broker, or throws
  const celeriac::JobId id = client.enqueue(task, args);
  std::cout << "enqueued " << task << " as " << id.str() << std::endl; // shown before the wait

  const celeriac::store::JobRecord job = client.wait(id, *timeout);
  if (job.state != celeriac::JobState::Success) {
    std::cout << "job " << to_string(job.state);
    if (job.error) std::cout << ": " << job.error->type << ": " << job.error->message;
    std::cout << '\n';
    return 1;
  }
  std::cout << "result: " << job.result.value_or(nullptr).dump() << '\n';
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const celeriac::WaitTimeout& e) {
    std::cerr << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) { // InvalidInput, InfrastructureError, bad JSON
    std::cerr << "error: " << e.what() << '\n';
    return 3;
  }
}
