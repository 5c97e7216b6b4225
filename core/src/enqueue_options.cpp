#include "celeriac/core/enqueue_options.hpp"

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

void validate_priority(int priority) {
  if (priority < kMinPriority || priority > kMaxPriority) {
    throw InvalidInput("priority", fmt::format("must be between {} and {}, got {}", kMinPriority,
                                               kMaxPriority, priority));
  }
}

void validate_queue(const std::string& queue) {
  if (queue.empty()) throw InvalidInput("queue", "must not be empty");
  if (queue.size() > kMaxQueueNameLength) {
    throw InvalidInput("queue", fmt::format("longer than {} bytes", kMaxQueueNameLength));
  }
}

std::optional<Timestamp> resolve_eta(const EnqueueOptions& o, Timestamp now) {
  if (o.countdown && o.eta) throw InvalidInput("countdown", "give countdown or eta, not both");
  if (o.countdown) {
    if (*o.countdown < Duration::zero()) throw InvalidInput("countdown", "must not be negative");
    return now + *o.countdown;
  }
  return o.eta;
}

std::optional<Timestamp> resolve_expires(const EnqueueOptions& o, Timestamp now) {
  if (o.expires_in && o.expires) {
    throw InvalidInput("expires", "give expires or expires_in, not both");
  }
  if (o.expires_in) {
    if (*o.expires_in <= Duration::zero()) throw InvalidInput("expires_in", "must be positive");
    return now + *o.expires_in;
  }
  if (o.expires && *o.expires <= now) {
    throw InvalidInput("expires", fmt::format("{} is already past", format_iso8601(*o.expires)));
  }
  return o.expires;
}

void validate_time_limits(const std::optional<Duration>& soft,
                          const std::optional<Duration>& hard) {
  if (soft && *soft <= Duration::zero()) throw InvalidInput("soft_time_limit", "must be positive");
  if (hard && *hard <= Duration::zero()) throw InvalidInput("hard_time_limit", "must be positive");
  if (soft && hard && *soft > *hard) {
    throw InvalidInput("soft_time_limit",
                       fmt::format("{} exceeds hard_time_limit {}", format_duration(*soft),
                                   format_duration(*hard)));
  }
}

} // namespace

void validate_task_name(const std::string& task) {
  if (task.empty()) throw InvalidInput("task", "must not be empty");
  if (task.size() > kMaxTaskNameLength) {
    throw InvalidInput("task", fmt::format("longer than {} bytes", kMaxTaskNameLength));
  }
  for (unsigned char c : task) {
    if (c <= 0x20 || c == 0x7F) {
      throw InvalidInput("task", fmt::format("'{}' contains a space or control character", task));
    }
  }
}

Job make_job(const std::string& task, nlohmann::json args, nlohmann::json kwargs,
             const EnqueueOptions& options, const JobDefaults& defaults, JobId new_id,
             Timestamp now) {
  validate_task_name(task);
  if (!args.is_array()) throw InvalidInput("args", "must be a JSON array");
  if (!kwargs.is_object()) throw InvalidInput("kwargs", "must be a JSON object");

  Job job;
  job.task = task;
  job.id = options.id.value_or(new_id);
  if (job.id.is_nil()) throw InvalidInput("id", "must not be the nil UUID");
  job.args = std::move(args);
  job.kwargs = std::move(kwargs);
  job.queue = options.queue.value_or(defaults.queue);
  validate_queue(job.queue);
  job.priority = options.priority.value_or(defaults.priority);
  validate_priority(job.priority);
  job.eta = resolve_eta(options, now);
  job.expires = resolve_expires(options, now);
  if (job.eta && job.expires && *job.expires <= *job.eta) {
    throw InvalidInput("expires",
                       fmt::format("{} is not after the eta {}", format_iso8601(*job.expires),
                                   format_iso8601(*job.eta)));
  }
  job.soft_time_limit =
      options.soft_time_limit ? options.soft_time_limit : defaults.soft_time_limit;
  job.hard_time_limit =
      options.hard_time_limit ? options.hard_time_limit : defaults.hard_time_limit;
  validate_time_limits(job.soft_time_limit, job.hard_time_limit);
  job.parent_id = options.parent_id;
  job.root_id = options.root_id ? options.root_id : std::optional<JobId>(job.id);
  job.group = options.group;
  job.ignore_result = options.ignore_result;
  job.extra_headers = options.headers;
  return job;
}

} // namespace celeriac
