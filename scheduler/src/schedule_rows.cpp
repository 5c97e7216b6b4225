#include "schedule_rows.hpp"

namespace celeriac::scheduler::detail {

namespace {

store::ScheduleDefinition definition_of(const ScheduleConfig& schedule) {
  store::ScheduleDefinition row;
  row.name = schedule.name;
  row.definition = to_json(schedule);
  row.enabled = schedule.enabled;
  return row;
}

} // namespace

std::vector<store::ScheduleDefinition> schedule_definitions(const Config& config) {
  std::vector<store::ScheduleDefinition> out;
  for (const ScheduleConfig& schedule : config.schedules)
    out.push_back(definition_of(schedule));
  return out;
}

void ensure_schedule_row(pqxx::connection_base& db, const Config& config,
                         const ScheduleConfig& schedule) {
  store::add_schedule_if_absent(db, config.database.schema, definition_of(schedule));
}

} // namespace celeriac::scheduler::detail
