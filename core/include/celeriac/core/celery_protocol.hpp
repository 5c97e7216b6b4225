// The Celery message protocol v2 codec: Job <-> AMQP properties, headers and body.
//
// Encoding follows Celery's docs/internals/protocol.rst and as_task_v2: headers
// in Celery's order (lang, task, id, shadow, eta, expires, group, group_index,
// retries, timelimit = [hard, soft], root_id, parent_id, argsrepr, kwargsrepr,
// origin, ignore_result), then any extra headers; body [args, kwargs, embed].
// JSON only: a pickled message is rejected, never loaded.
//
// Decoding accepts what a Celery 5 client sends: void header values, ISO-8601
// eta/expires with or without offset, missing optional headers, and kombu's
// {"__type__", "__value__"} JSON envelopes in args and kwargs, which are
// unwrapped to plain JSON (datetime/date/time/decimal as their text, uuid as
// its canonical text, bytes as text, timedelta as seconds; base64 bytes as
// text when they are UTF-8, otherwise the envelope is kept so nothing is lost).
// Every rejection is a DecodeError naming what was wrong. Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "celeriac/core/header_value.hpp"
#include "celeriac/core/job.hpp"
#include "celeriac/core/time.hpp"

namespace celeriac {

struct MessageProperties {
  std::string content_type = "application/json";
  std::string content_encoding = "utf-8";
  std::string correlation_id;
  std::optional<std::string> reply_to;
  int delivery_mode = 2; // persistent
  int priority = 0;
  std::optional<std::string> expiration; // per-message TTL in milliseconds, as text
  bool operator==(const MessageProperties&) const = default;
};

// One message as it travels through the broker (the routing key is the queue).
struct Message {
  MessageProperties properties;
  HeaderTable headers;
  std::string body;
  bool operator==(const Message&) const = default;
};

struct CodecLimits {
  std::size_t max_body_bytes = 1024 * 1024; // a larger body is rejected unread
  int max_json_depth = 64;                  // deeper nesting is rejected before parsing
};

// Encodes JOB. With NOW, a job that expires gets the AMQP `expiration`
// property (milliseconds left, at least 1), as Celery sets it, so the broker
// itself drops it when it goes stale. Throws InvalidInput if the job's JSON
// holds invalid UTF-8.
// The header celeriac's publishers put their send time in (Job::sent_at).
inline constexpr std::string_view kSentAtHeader = "x-celeriac-sent-at";

Message encode_job(const Job& job, std::optional<Timestamp> now = std::nullopt);

// Decodes a message taken from QUEUE. Throws DecodeError.
Job decode_job(const Message& message, std::string_view queue, const CodecLimits& limits = {});

// Replaces kombu JSON envelopes inside VALUE with plain JSON, in place (see above).
void unwrap_kombu_envelopes(nlohmann::json& value);

} // namespace celeriac
