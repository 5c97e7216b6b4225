#include "schedule_rows.hpp"

#include <algorithm>

namespace celeriac::scheduler::detail {

std::vector<store::ScheduleDefinition> schedule_definitions(const Config& config) {
  std::vector<store::ScheduleDefinition> out;
  for (const ScheduleConfig& schedule : config.schedules) {
    store::ScheduleDefinition row;
    row.name = schedule.name;
    row.definition = to_json(schedule);
    row.enabled = schedule.enabled;
    out.push_back(std::move(row));
  }
  return out;
}

void ensure_schedule_row(pqxx::connection_base& db, const Config& config,
                         const ScheduleConfig& schedule) {
  const auto rows = store::list_schedules(db, config.database.schema);
  const bool present = std::any_of(rows.begin(), rows.end(), [&](const store::ScheduleRow& row) {
    return row.name == schedule.name;
  });
  if (!present) store::sync_schedules(db, config.database.schema, schedule_definitions(config));
}

} // namespace celeriac::scheduler::detail
