#include "verdict.hpp"

#include <map>

#include <fmt/format.h>

#include "celeriac/broker/topology.hpp"

namespace celeriac::chaos {
namespace {

bool terminal(const std::string& state) {
  return state == "SUCCESS" || state == "FAILURE" || state == "REVOKED";
}

struct JobCounts {
  long enqueued = 0, terminal = 0, missing = 0, two_records = 0, twice = 0, wrong = 0,
       never_ran = 0;
};

// Counts each enqueued job's records and runs; names the first few wrong or missing.
JobCounts judge_jobs(const VerdictInput& in, std::vector<std::string>& details) {
  JobCounts c;
  std::unordered_map<std::string, int> records;
  for (const auto& row : in.rows) {
    const auto it = in.expected.find(row.id);
    if (it == in.expected.end()) continue; // poison with an id, recorded as FAILURE
    if (++records[row.id] > 1 || !terminal(row.state)) continue;
    ++c.terminal;
    if (!right_outcome(it->second, row.state) && ++c.wrong <= 5)
      details.push_back(
          fmt::format("wrong outcome: {} {} {} {}", row.id, row.task, row.state, row.error_type));
    if (it->second != JobKind::Note) continue;
    const auto ran = in.notes.find(row.id);
    const int runs = ran == in.notes.end() ? 0 : ran->second;
    if (runs >= 2) ++c.twice;
    if (runs == 0 && row.state == "SUCCESS") ++c.never_ran;
  }
  for (const auto& [id, n] : records)
    c.two_records += n > 1 ? 1 : 0;
  c.enqueued = static_cast<long>(in.expected.size());
  c.missing = c.enqueued - c.terminal;
  int shown = 0;
  for (const auto& [id, kind] : in.expected)
    if (!records.contains(id) && shown++ < 5)
      details.push_back(fmt::format("missing: {} ({}) has no record", id, task_of(kind)));
  for (const auto& row : in.rows)
    if (in.expected.contains(row.id) && !terminal(row.state) && shown++ < 10)
      details.push_back(fmt::format("missing: {} ({}) is still {}", row.id, row.task, row.state));
  if (c.enqueued < in.jobs_wanted)
    details.push_back(
        fmt::format("only {} of {} jobs enqueued by the deadline", c.enqueued, in.jobs_wanted));
  if (c.never_ran > 0)
    details.push_back(fmt::format("{} demo.note jobs recorded SUCCESS without a run", c.never_ran));
  return c;
}

// Every poison message in its own queue's dead-letter queue, with a reason;
// prints the reasons by kind, then the other dead letters by error type.
std::size_t judge_poison(const VerdictInput& in, std::vector<std::string>& details) {
  std::size_t found = 0;
  std::map<std::string, std::map<std::string, int>> reasons; // kind -> reason -> count
  for (const auto& p : in.poison) {
    const auto reason = in.dead.poison_reasons.find(p.marker);
    if (reason == in.dead.poison_reasons.end()) {
      details.push_back(
          fmt::format("poison {} is not in {}", p.marker, broker::dead_letter_queue(p.queue)));
      continue;
    }
    const std::string& queue = in.dead.poison_queues.at(p.marker);
    if (reason->second.empty() || queue != broker::dead_letter_queue(p.queue)) {
      details.push_back(fmt::format("poison {} dead-lettered to {} with reason '{}'", p.marker,
                                    queue, reason->second));
      continue;
    }
    ++found;
    ++reasons[p.kind][reason->second.substr(0, 90)];
  }
  for (const auto& [kind, by_reason] : reasons)
    for (const auto& [reason, n] : by_reason)
      details.push_back(fmt::format("dead letter: {} x{}: {}", kind, n, reason));
  for (const auto& [reason, n] : in.dead.other_reasons)
    details.push_back(fmt::format("dead letter (designed failures): {} x{}", reason, n));
  return found;
}

} // namespace

PhaseVerdict judge(const VerdictInput& in) {
  PhaseVerdict v;
  const JobCounts c = judge_jobs(in, v.details);
  const std::size_t poison_found = judge_poison(in, v.details);
  std::map<std::string, int> exits;
  for (const auto& note : in.fleet.exit_notes)
    ++exits[note];
  for (const auto& [note, n] : exits)
    v.details.push_back(fmt::format("{} x{}", note, n));
  if (in.faults_failed) v.details.push_back("a server did not stop or start (services.log)");

  v.pass = c.enqueued == in.jobs_wanted && c.missing == 0 && c.two_records == 0 && c.wrong == 0 &&
           c.never_ran == 0 && poison_found == in.poison.size() && in.fleet.alive == in.workers &&
           in.fleet.stopped_warm == in.workers && in.fleet.crashes == 0 && !in.faults_failed;
  v.line = fmt::format(
      "chaos {}: {} enqueued, {} terminal, {} missing, {} with two records, {} executed twice, "
      "{} wrong outcomes, poison {}/{}, workers {}/{} alive, {} kills, {} unexpected exits, "
      "{:.0f} s — {}",
      in.phase, c.enqueued, c.terminal, c.missing, c.two_records, c.twice, c.wrong, poison_found,
      in.poison.size(), in.fleet.alive, in.workers, in.fleet.kills, in.fleet.unexpected_exits,
      in.seconds, v.pass ? "PASS" : "FAIL");
  return v;
}

} // namespace celeriac::chaos
