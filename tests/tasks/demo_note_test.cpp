// demo.note (tasks/demo.hpp): each run appends exactly one line, the job's id,
// so scripts/chaos can count how often a job ran.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "celeriac/core/error.hpp"
#include "celeriac/tasks/demo.hpp"

using namespace celeriac;

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json run(const TaskRegistry& registry, const Job& job) {
  TaskContext ctx(job);
  return registry.find("demo.note")->run(ctx);
}

} // namespace

TEST_CASE("demo.note appends the job id and a newline per run") {
  TaskRegistry registry;
  tasks::register_demo_tasks(registry);
  REQUIRE(registry.find("demo.note") != nullptr);
  const auto path = std::filesystem::temp_directory_path() /
                    ("celeriac-note-" + std::to_string(::getpid()) + ".txt");
  std::filesystem::remove(path);

  Job first;
  first.id = JobId::v4({1, 2, 3});
  first.task = "demo.note";
  first.args = nlohmann::json::array({path.string()});
  Job second = first;
  second.id = JobId::v4({4, 5, 6});
  second.args = nlohmann::json::array();
  second.kwargs = {{"path", path.string()}};

  CHECK(run(registry, first).is_null());
  CHECK(run(registry, second).is_null());
  CHECK(run(registry, first).is_null());
  CHECK(read_file(path) == first.id.str() + "\n" + second.id.str() + "\n" + first.id.str() + "\n");
  std::filesystem::remove(path);

  Job bad = first;
  bad.args = nlohmann::json::array({42});
  CHECK_THROWS_AS(run(registry, bad), InvalidInput);
  bad.args = nlohmann::json::array();
  CHECK_THROWS_AS(run(registry, bad), InvalidInput);
  bad.args = nlohmann::json::array({"/nonexistent-dir/celeriac/note.txt"});
  CHECK_THROWS_AS(run(registry, bad), TaskFailure);
}
