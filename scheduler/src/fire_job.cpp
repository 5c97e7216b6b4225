#include "celeriac/scheduler/fire_job.hpp"

#include <fmt/format.h>
#include <uuid/uuid.h>

#include <algorithm>
#include <cstring>

#include "celeriac/broker/broker_config.hpp"
#include "celeriac/broker/broker_thread.hpp"
#include "celeriac/broker/job_message.hpp"
#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/fire_plan.hpp"
#include "celeriac/store/database_url.hpp"
#include "schedule_rows.hpp"

namespace celeriac::scheduler {
namespace {

// celeriac's UUID v5 namespace for schedule fires: 16 bytes chosen once (with
// the version-5 and RFC 4122 variant bits), never to change: every recorded
// fire's job id derives from it (tests/scheduler/fire_job_test pins one).
constexpr uuid_t kFireNamespace = {0x6b, 0x1f, 0x2e, 0x7c, 0x0d, 0x55, 0x5a, 0x8e,
                                   0x9f, 0x43, 0x2c, 0x61, 0x3a, 0x7e, 0x10, 0xd4};

// A jitter offset in [0, JITTER], the same for every publish of job ID.
Duration jitter_offset(JobId id, Duration jitter) {
  if (jitter <= Duration::zero()) return Duration::zero();
  std::uint64_t value = 0;
  std::memcpy(&value, id.bytes().data() + 8, sizeof value);
  return Duration(
      static_cast<Duration::rep>(value % static_cast<std::uint64_t>(jitter.count() + 1)));
}

} // namespace

JobId fire_job_id(std::string_view schedule, Timestamp fire_time) {
  const std::string name = fmt::format("{}@{}", schedule, format_iso8601(fire_time));
  uuid_t out;
  uuid_generate_sha1(out, kFireNamespace, name.data(), name.size());
  JobId::Bytes bytes{};
  std::memcpy(bytes.data(), out, bytes.size());
  return JobId(bytes);
}

Job fire_job(const Config& config, const ScheduleConfig& schedule, Timestamp fire_time, JobId id,
             Timestamp now) {
  const TaskConfig task = config.task(schedule.task);
  JobDefaults defaults;
  defaults.queue = task.queue;
  defaults.priority = task.priority;
  defaults.soft_time_limit = task.soft_time_limit;
  defaults.hard_time_limit = task.hard_time_limit;

  EnqueueOptions options;
  options.id = id;
  options.queue = schedule.queue;
  options.priority = schedule.priority;
  options.ignore_result = task.ignore_result;
  if (const Duration offset = jitter_offset(id, schedule.jitter); offset > Duration::zero()) {
    options.eta = std::max(now, fire_time + offset);
  }
  std::optional<Duration> expires = schedule.expires;
  if (!expires) expires = fire_period(schedule_of(schedule), fire_time);
  if (expires) options.expires = (options.eta ? *options.eta : now) + *expires;
  options.headers.set("x-celeriac-schedule", schedule.name);
  options.headers.set("x-celeriac-fire-time", format_iso8601(fire_time));
  return make_job(schedule.task, schedule.args, schedule.kwargs, options, defaults, id, now);
}

const ScheduleConfig& find_schedule(const Config& config, std::string_view name) {
  for (const ScheduleConfig& schedule : config.schedules) {
    if (schedule.name == name) return schedule;
  }
  std::string known;
  for (const ScheduleConfig& schedule : config.schedules) {
    known += known.empty() ? "" : ", ";
    known += schedule.name;
  }
  throw InvalidInput("schedule", fmt::format("no schedule named '{}' in the configuration ({})",
                                             name, known.empty() ? "it has none" : known));
}

store::FireRecord fire_now(const Config& config, std::string_view name, Timestamp now) {
  const ScheduleConfig& schedule = find_schedule(config, name);
  store::FireRecord fire;
  fire.schedule = schedule.name;
  fire.fire_time = now;
  fire.job_id = fire_job_id(schedule.name, now);
  fire.manual = true;
  const Job job = fire_job(config, schedule, now, fire.job_id, now);
  broker::Outgoing message = broker::job_message(job, now, config.broker.max_body_bytes);

  // The broker first: a fire is recorded only when it can be published at
  // once, so the leader (which leaves young unpublished fires alone) rarely
  // has to publish it in our place.
  broker::BrokerThread broker(broker::broker_options(config, "celeriac-schedules-run"));
  pqxx::connection db(store::with_connect_timeout(config.database.url));
  detail::ensure_schedule_row(db, config, schedule);
  const auto recorded = store::record_fires(db, config.database.schema, {&fire, 1});
  if (recorded.empty()) {
    throw InfrastructureError(
        fmt::format("schedule '{}' already has a fire at {}", name, format_iso8601(now)));
  }
  std::vector<broker::Outgoing> messages;
  messages.push_back(std::move(message));
  auto futures = broker.publish(std::move(messages));
  // As long as the leader leaves a young unpublished fire alone
  // (SchedulerOptions::publish_timeout).
  if (futures.front().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    throw InfrastructureError(fmt::format(
        "schedule '{}': no confirm from the broker within 10 s; the fire stays recorded and the"
        " leading scheduler will publish it",
        name));
  }
  const broker::PublishResult result = futures.front().get();
  if (result.status != broker::PublishStatus::Confirmed) {
    throw InfrastructureError(fmt::format(
        "schedule '{}': the broker did not confirm the fire ({}); it stays recorded and the"
        " leading scheduler will publish it",
        name,
        result.detail.empty() ? std::string(broker::to_string(result.status)) : result.detail));
  }
  store::mark_published(db, config.database.schema, {&fire, 1});
  fire.published_at = now;
  return fire;
}

} // namespace celeriac::scheduler
