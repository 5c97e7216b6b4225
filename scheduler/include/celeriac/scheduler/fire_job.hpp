// What one fire of a schedule publishes, and the manual fire of
// `celeriac schedules run`.
#pragma once

#include <string>
#include <string_view>

#include "celeriac/core/config.hpp"
#include "celeriac/core/job.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"
#include "celeriac/store/schedule_store.hpp"

namespace celeriac::scheduler {

// The job id of SCHEDULE's fire at FIRE_TIME: a UUID v5 (SHA-1) of
// "<schedule>@<fire time, ISO 8601 to the microsecond>" in celeriac's
// schedule namespace, so every replica and every retry agrees on it.
JobId fire_job_id(std::string_view schedule, Timestamp fire_time);

// The job SCHEDULE's fire at FIRE_TIME publishes at NOW: the schedule's task,
// args and kwargs; its queue and priority, else the task's; eta = the fire
// time plus a jitter in [0, jitter] picked from the job id (the same on every
// republish); expires = NOW plus the schedule's expires, by default its period
// (fire_period), so a run still queued when the next is due is dropped.
// Headers x-celeriac-schedule and x-celeriac-fire-time say where it came from.
// Throws InvalidInput as make_job does.
Job fire_job(const Config& config, const ScheduleConfig& schedule, Timestamp fire_time, JobId id,
             Timestamp now);

// The schedule named NAME in CONFIG; InvalidInput("schedule") naming the
// configured ones when there is none.
const ScheduleConfig& find_schedule(const Config& config, std::string_view name);

// `celeriac schedules run NAME`: fires NAME now, outside its timing and
// without the lock: syncs the schedule's row, records the fire (manual, at
// NOW truncated to the microsecond), publishes it with confirms and marks it
// published. If the publish fails the record stays unpublished and the
// leading scheduler publishes it. Throws InvalidInput for an unknown
// schedule, InfrastructureError when a server cannot be reached.
store::FireRecord fire_now(const Config& config, std::string_view name, Timestamp now);

} // namespace celeriac::scheduler
