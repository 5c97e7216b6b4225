// The configured schedules as rows of the store's `schedules` table.
#pragma once

#include <vector>

#include <pqxx/pqxx>

#include "celeriac/core/config.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace celeriac::scheduler::detail {

// Every [[schedules]] entry of CONFIG, its definition as config check shows it.
std::vector<store::ScheduleDefinition> schedule_definitions(const Config& config);

// Makes sure SCHEDULE has its row before a fire is recorded for it: inserts
// it when no scheduler has synced it yet, and touches no other row (only
// the leader syncs the table).
void ensure_schedule_row(pqxx::connection_base& db, const Config& config,
                         const ScheduleConfig& schedule);

} // namespace celeriac::scheduler::detail
