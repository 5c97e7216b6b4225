// Job: one unit of background work, as celeriac and Celery's protocol v2 see it.
// A plain value; the codec (celery_protocol.hpp) turns it into a message and back.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "celeriac/core/header_value.hpp"
#include "celeriac/core/job_id.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

inline constexpr int kMinPriority = 0;
inline constexpr int kMaxPriority = 9;
// The longest queue name: an AMQP short string holds 255 bytes, and the delay
// topology's routing key puts 28 two-byte bit-words before the queue name.
inline constexpr std::size_t kMaxQueueNameLength = 255 - 2 * 28;

struct Job {
  JobId id;
  std::string task;                                 // registered task name
  nlohmann::json args = nlohmann::json::array();    // positional arguments
  nlohmann::json kwargs = nlohmann::json::object(); // keyword arguments
  std::string queue;                                // routing key / queue name
  int priority = 0;                                 // 0..9, higher runs first
  std::optional<Timestamp> eta;                     // not before
  std::optional<Timestamp> expires;                 // revoked if not started by then
  int retries = 0;                                  // retries done so far
  std::optional<Duration> soft_time_limit;          // task sees cancelled() after
  std::optional<Duration> hard_time_limit;          // task is killed after
  std::optional<JobId> parent_id;                   // the job that enqueued this one
  std::optional<JobId> root_id;                     // the first job of the workflow
  std::optional<std::string> group;                 // group (chord) id
  std::optional<int> group_index;
  bool ignore_result = false;
  std::optional<std::string> shadow; // name shown in logs instead of task
  std::optional<std::string> origin; // "pid@host" of the sender
  std::optional<std::string> reply_to;
  std::optional<std::string> argsrepr;
  std::optional<std::string> kwargsrepr;
  // When a celeriac publisher sent this message (header x-celeriac-sent-at):
  // the worker's queue wait is measured from max(sent_at, eta). Celery's own
  // clients do not send it.
  std::optional<Timestamp> sent_at;
  // The third body element: {"callbacks", "errbacks", "chain", "chord"}, kept
  // verbatim. Null stands for the usual one, all four null (usual_embed()),
  // and is the default: a job is built and copied several times on its way,
  // and the four keys cost five allocations each time.
  nlohmann::json embed;
  // Headers celeriac does not interpret, kept and forwarded (e.g. on retry).
  HeaderTable extra_headers;

  bool operator==(const Job&) const = default;
};

// The embed of a job without callbacks, errbacks, chain or chord: the four
// keys, each null. What a null Job::embed stands for.
nlohmann::json usual_embed();

} // namespace celeriac
