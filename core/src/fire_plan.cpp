#include "celeriac/core/fire_plan.hpp"

#include <algorithm>

namespace celeriac {

FirePlan plan_fires(const Schedule& schedule, const CatchUpRule& rule, Timestamp after,
                    Timestamp now) {
  FirePlan plan;
  plan.cursor = after;
  // Fires older than the look-back (and the grace) are never enumerated: a
  // 1-second schedule down for a week costs no more than one down for an hour.
  const Duration window = std::max(rule.lookback, rule.grace);
  const Timestamp oldest = now - window;
  Timestamp from = after;
  if (from < oldest) {
    from = oldest - Duration(1); // next_after is strictly after: keep a fire at `oldest`
  }
  std::vector<Timestamp> missed;
  for (auto t = schedule.next_after(from); t && *t <= now; t = schedule.next_after(*t)) {
    plan.cursor = *t;
    if (*t >= now - rule.grace) {
      plan.due.push_back(*t);
    } else {
      missed.push_back(*t);
      // Bound memory for a tiny interval and a long look-back: keep the latest.
      if (missed.size() > 2 * kMaxFiresPerPlan) {
        missed.erase(missed.begin(),
                     missed.begin() + static_cast<std::ptrdiff_t>(kMaxFiresPerPlan));
        plan.missed += kMaxFiresPerPlan;
      }
    }
  }

  std::vector<Timestamp> caught_up;
  switch (rule.policy) {
    case CatchUp::Skip:
      break;
    case CatchUp::Once:
      if (plan.due.empty() && !missed.empty()) caught_up.push_back(missed.back());
      break;
    case CatchUp::All:
      caught_up = missed;
      break;
  }
  plan.missed += missed.size() - caught_up.size();
  plan.due.insert(plan.due.begin(), caught_up.begin(), caught_up.end());
  if (plan.due.size() > kMaxFiresPerPlan) {
    const std::size_t drop = plan.due.size() - kMaxFiresPerPlan;
    plan.due.erase(plan.due.begin(), plan.due.begin() + static_cast<std::ptrdiff_t>(drop));
    plan.missed += drop;
  }
  plan.next = schedule.next_after(std::max(now, plan.cursor));
  return plan;
}

Schedule schedule_of(const ScheduleConfig& config) {
  if (config.cron) return Schedule::cron(*config.cron, config.tz);
  return Schedule::every(config.every.value_or(Duration::zero()));
}

CatchUpRule catch_up_rule(const ScheduleConfig& config) {
  CatchUpRule rule;
  rule.policy = config.catch_up;
  rule.lookback = config.lookback;
  return rule;
}

std::optional<Duration> fire_period(const Schedule& schedule, Timestamp fire_time) {
  const auto next = schedule.next_after(fire_time);
  if (!next) return std::nullopt;
  return *next - fire_time;
}

} // namespace celeriac
