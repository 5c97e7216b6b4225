#include "schedule_rows.hpp"

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
  store::ScheduleDefinition row;
  row.name = schedule.name;
  row.definition = to_json(schedule);
  row.enabled = schedule.enabled;
  store::add_schedule_if_absent(db, config.database.schema, row);
}

} // namespace celeriac::scheduler::detail
