// The chaos verdict (tests/chaos/verdict.hpp) fails a phase for each kind of
// loss it is there to catch, and passes a clean one.
#include <doctest/doctest.h>

#include "verdict.hpp"

using namespace celeriac;
using namespace celeriac::chaos;

namespace {

const std::string kNote = "00000000-0000-4000-8000-000000000001";
const std::string kInvalid = "00000000-0000-4000-8000-000000000002";
const std::string kFlaky = "00000000-0000-4000-8000-000000000003";

// A clean phase: three jobs, each ended right, one note run twice, one poison
// message dead-lettered where it belongs, both workers fine.
VerdictInput clean() {
  VerdictInput in;
  in.phase = "test";
  in.jobs_wanted = 3;
  in.expected = {{kNote, JobKind::Note}, {kInvalid, JobKind::Invalid}, {kFlaky, JobKind::Flaky}};
  in.rows = {{kNote, "SUCCESS", "demo.note", ""},
             {kInvalid, "FAILURE", "demo.add", "celeriac::InvalidInput"},
             {kFlaky, "FAILURE", "demo.fail", "TaskFailure"}};
  in.notes = {{kNote, 2}};
  PoisonMessage p;
  p.kind = "pickle";
  p.marker = "pickle#0";
  p.queue = "q.high";
  in.poison = {p};
  in.dead.poison_reasons = {{"pickle#0", "undecodable message: content_type"}};
  in.dead.poison_queues = {{"pickle#0", "q.high.dead"}};
  in.fleet.alive = 2;
  in.fleet.stopped_warm = 2;
  in.workers = 2;
  return in;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("a clean phase passes and counts the job that ran twice") {
  const PhaseVerdict v = judge(clean());
  CHECK(v.pass);
  CHECK(has(v.line, "3 enqueued, 3 terminal, 0 missing, 0 with two records, 1 executed twice"));
  CHECK(has(v.line, "poison 1/1, workers 2/2 alive"));
  CHECK(has(v.line, "— PASS"));
}

TEST_CASE("a job without a terminal record fails the phase") {
  VerdictInput in = clean();
  in.rows[0].state = "STARTED";
  PhaseVerdict v = judge(in);
  CHECK_FALSE(v.pass);
  CHECK(has(v.line, "2 terminal, 1 missing"));
  in.rows.erase(in.rows.begin());
  v = judge(in);
  CHECK_FALSE(v.pass);
  CHECK(has(v.line, "1 missing"));
}

TEST_CASE("a job that ended the wrong way fails the phase") {
  VerdictInput in = clean();
  in.rows[0].state = "FAILURE"; // a note lost to WorkerLost
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.rows[1].state = "SUCCESS"; // demo.add("x", 1) must fail
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.notes.clear(); // SUCCESS, but it never ran
  CHECK_FALSE(judge(in).pass);
}

TEST_CASE("a poison message missing, in the wrong queue or without a reason fails the phase") {
  VerdictInput in = clean();
  in.dead.poison_reasons.clear();
  in.dead.poison_queues.clear();
  CHECK_FALSE(judge(in).pass);
  CHECK(has(judge(in).line, "poison 0/1"));
  in = clean();
  in.dead.poison_queues["pickle#0"] = "q.low.dead";
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.dead.poison_reasons["pickle#0"] = "";
  CHECK_FALSE(judge(in).pass);
}

TEST_CASE("a worker not answering, not stopping warm or crashing fails the phase") {
  VerdictInput in = clean();
  in.fleet.alive = 1;
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.fleet.stopped_warm = 1;
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.fleet.crashes = 1;
  CHECK_FALSE(judge(in).pass);
  in = clean();
  in.fleet.unexpected_exits = 3; // exits with a status: reported, not a failure
  CHECK(judge(in).pass);
}

TEST_CASE("jobs the broker never confirmed fail the phase") {
  VerdictInput in = clean();
  in.jobs_wanted = 4;
  CHECK_FALSE(judge(in).pass);
}
