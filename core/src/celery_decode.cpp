// Celery protocol v2 message -> Job. Input is hostile: every check names the
// field it rejects, and nothing here may crash, loop or recurse without bound.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/enqueue_options.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/utf8.hpp"

namespace celeriac {
namespace {

// Headers decode_job interprets; everything else is kept in extra_headers.
constexpr std::string_view kKnownHeaders[] = {
    "lang",     "task",        "id",      "shadow",        "eta",        "expires",
    "group",    "group_index", "retries", "timelimit",     "root_id",    "parent_id",
    "argsrepr", "kwargsrepr",  "origin",  "ignore_result", kSentAtHeader};

// What RabbitMQ adds when it dead-letters a message (x-death, x-first-death-*,
// x-last-death-*) belongs to that one trip through the broker, not to the job.
// Carried into a republished job (a retry, a delayed send-back), it would make
// RabbitMQ see a dead-letter cycle in the delay levels and drop the message.
bool is_broker_trace_header(std::string_view key) {
  return key == "x-death" || key.starts_with("x-first-death-") || key.starts_with("x-last-death-");
}

bool is_known_header(std::string_view key) {
  return std::find(std::begin(kKnownHeaders), std::end(kKnownHeaders), key) !=
         std::end(kKnownHeaders);
}

std::string header_field(std::string_view name) {
  return fmt::format("headers.{}", name);
}

// The header's value, or nullptr when it is absent or void.
const HeaderValue* present(const HeaderTable& headers, std::string_view name) {
  const HeaderValue* v = headers.find(name);
  return v == nullptr || v->is_void() ? nullptr : v;
}

std::optional<std::string> text_header(const HeaderTable& headers, std::string_view name) {
  const HeaderValue* v = present(headers, name);
  if (v == nullptr) return std::nullopt;
  const std::string* text = nullptr;
  if (const auto* s = v->get_if<std::string>()) text = s;
  if (const auto* b = v->get_if<ByteString>()) text = &b->bytes;
  if (text == nullptr) throw DecodeError(header_field(name), "must be a string");
  // AMQP does not check text; our records and events must be valid JSON.
  if (!is_valid_utf8(*text)) throw DecodeError(header_field(name), "is not valid UTF-8");
  return *text;
}

// Unknown headers are kept and later written as JSON, so their text must be UTF-8.
void check_utf8(const HeaderValue& value, const std::string& field) {
  if (const auto* s = value.get_if<std::string>()) {
    if (!is_valid_utf8(*s)) throw DecodeError(field, "is not valid UTF-8");
  } else if (const auto* a = value.get_if<HeaderArray>()) {
    for (const auto& v : *a)
      check_utf8(v, field);
  } else if (const auto* t = value.get_if<HeaderTable>()) {
    for (const auto& [key, v] : *t) {
      if (!is_valid_utf8(key)) throw DecodeError(field, "has a key that is not valid UTF-8");
      check_utf8(v, field);
    }
  }
}

std::optional<JobId> id_header(const HeaderTable& headers, std::string_view name) {
  auto text = text_header(headers, name);
  if (!text) return std::nullopt;
  auto id = JobId::parse(*text);
  if (!id) throw DecodeError(header_field(name), fmt::format("bad UUID '{}'", *text));
  return id;
}

std::optional<std::int64_t> int_header(const HeaderTable& headers, std::string_view name) {
  const HeaderValue* v = present(headers, name);
  if (v == nullptr) return std::nullopt;
  if (const auto* i = v->get_if<std::int64_t>()) return *i;
  throw DecodeError(header_field(name), "must be an integer");
}

std::optional<Timestamp> time_header(const HeaderTable& headers, std::string_view name) {
  const HeaderValue* v = present(headers, name);
  if (v == nullptr) return std::nullopt;
  if (const auto* t = v->get_if<AmqpTimestamp>()) {
    if (t->seconds > 253402300799ULL) throw DecodeError(header_field(name), "timestamp after 9999");
    return Timestamp(std::chrono::seconds(t->seconds));
  }
  const auto* s = v->get_if<std::string>();
  if (s == nullptr) throw DecodeError(header_field(name), "must be an ISO-8601 string");
  auto t = parse_iso8601(*s);
  if (!t) throw DecodeError(header_field(name), fmt::format("bad timestamp '{}'", *s));
  return t;
}

std::optional<Duration> limit_value(const HeaderValue& v, const char* which) {
  if (v.is_void()) return std::nullopt;
  double seconds = 0;
  if (const auto* i = v.get_if<std::int64_t>()) {
    seconds = static_cast<double>(*i);
  } else if (const auto* d = v.get_if<double>()) {
    seconds = *d;
  } else {
    throw DecodeError(fmt::format("headers.timelimit[{}]", which), "must be a number or null");
  }
  auto limit = from_seconds(seconds);
  if (!limit) {
    throw DecodeError(fmt::format("headers.timelimit[{}]", which),
                      fmt::format("{} is not a usable number of seconds", seconds));
  }
  if (*limit == Duration::zero()) return std::nullopt; // Celery reads 0 as "no limit"
  return limit;
}

void decode_time_limits(const HeaderTable& headers, Job& job) {
  const HeaderValue* v = present(headers, "timelimit");
  if (v == nullptr) return;
  const auto* pair = v->get_if<HeaderArray>();
  if (pair == nullptr || pair->size() != 2) {
    throw DecodeError("headers.timelimit", "must be a 2-element array [hard, soft]");
  }
  job.hard_time_limit = limit_value((*pair)[0], "hard");
  job.soft_time_limit = limit_value((*pair)[1], "soft");
}

void decode_headers(const HeaderTable& headers, Job& job) {
  auto task = text_header(headers, "task");
  if (!task || task->empty()) {
    throw DecodeError("headers.task", "missing (not a Celery protocol v2 message)");
  }
  try {
    validate_task_name(*task);
  } catch (const InvalidInput& e) {
    throw DecodeError("headers.task", e.reason());
  }
  job.task = std::move(*task);
  auto id = id_header(headers, "id");
  if (!id) throw DecodeError("headers.id", "missing");
  job.id = *id;
  job.shadow = text_header(headers, "shadow");
  job.eta = time_header(headers, "eta");
  job.expires = time_header(headers, "expires");
  job.group = text_header(headers, "group");
  if (auto index = int_header(headers, "group_index")) {
    if (*index < 0 || *index > INT32_MAX) throw DecodeError("headers.group_index", "out of range");
    job.group_index = static_cast<int>(*index);
  }
  const auto retries = int_header(headers, "retries").value_or(0);
  if (retries < 0 || retries > INT32_MAX) throw DecodeError("headers.retries", "out of range");
  job.retries = static_cast<int>(retries);
  decode_time_limits(headers, job);
  job.root_id = id_header(headers, "root_id");
  job.parent_id = id_header(headers, "parent_id");
  job.argsrepr = text_header(headers, "argsrepr");
  job.kwargsrepr = text_header(headers, "kwargsrepr");
  job.origin = text_header(headers, "origin");
  if (const HeaderValue* v = present(headers, "ignore_result")) {
    const auto* b = v->get_if<bool>();
    if (b == nullptr) throw DecodeError("headers.ignore_result", "must be a boolean");
    job.ignore_result = *b;
  }
  // Advisory (it only feeds a metric): a malformed one is dropped, not fatal.
  if (const HeaderValue* v = present(headers, kSentAtHeader)) {
    if (const auto* text = v->get_if<std::string>()) job.sent_at = parse_iso8601(*text);
  }
  for (const auto& [key, value] : headers) {
    if (is_known_header(key) || is_broker_trace_header(key)) continue;
    if (!is_valid_utf8(key)) throw DecodeError("headers", "a header name is not valid UTF-8");
    check_utf8(value, header_field(key));
    job.extra_headers.set(key, value);
  }
}

void check_content(const MessageProperties& p) {
  if (p.content_type != "application/json") {
    throw DecodeError(
        "content_type",
        fmt::format("'{}' is not accepted: celeriac reads application/json only", p.content_type));
  }
  std::string encoding = p.content_encoding;
  std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!encoding.empty() && encoding != "utf-8" && encoding != "utf8") {
    throw DecodeError("content_encoding", fmt::format("'{}' is not utf-8", p.content_encoding));
  }
}

// Deepest bracket nesting outside strings; stops counting past LIMIT.
int json_depth(std::string_view text, int limit) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size() && deepest <= limit; ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

void decode_body(const std::string& body, const CodecLimits& limits, Job& job) {
  if (json_depth(body, limits.max_json_depth) > limits.max_json_depth) {
    throw DecodeError("body", fmt::format("JSON nested deeper than {}", limits.max_json_depth));
  }
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw DecodeError("body", "not valid JSON (or not UTF-8)");
  if (!parsed.is_array() || parsed.size() != 3) {
    throw DecodeError("body", "must be a 3-element array [args, kwargs, embed]");
  }
  if (!parsed[0].is_array()) throw DecodeError("body.args", "must be a JSON array");
  if (!parsed[1].is_object()) throw DecodeError("body.kwargs", "must be a JSON object");
  if (!parsed[2].is_object() && !parsed[2].is_null()) {
    throw DecodeError("body.embed", "must be a JSON object or null");
  }
  job.args = std::move(parsed[0]);
  job.kwargs = std::move(parsed[1]);
  unwrap_kombu_envelopes(job.args);
  unwrap_kombu_envelopes(job.kwargs);
  // The usual embed (no key but the four, each null) stays null: Job::embed.
  const auto usual_entry = [](const auto& entry) {
    const std::string& key = entry.key();
    return entry.value().is_null() &&
           (key == "callbacks" || key == "errbacks" || key == "chain" || key == "chord");
  };
  if (parsed[2].is_object()) {
    const auto items = parsed[2].items();
    if (!std::all_of(items.begin(), items.end(), usual_entry)) {
      job.embed = usual_embed();
      for (auto& [key, value] : parsed[2].items())
        job.embed[key] = std::move(value);
    }
  }
}

} // namespace

Job decode_job(const Message& message, std::string_view queue, const CodecLimits& limits) {
  if (message.body.size() > limits.max_body_bytes) {
    throw DecodeError("body", fmt::format("{} bytes exceeds the limit of {} bytes",
                                          message.body.size(), limits.max_body_bytes));
  }
  check_content(message.properties);
  Job job;
  job.queue = std::string(queue);
  decode_headers(message.headers, job);
  job.priority = std::clamp(message.properties.priority, kMinPriority, kMaxPriority);
  job.reply_to = message.properties.reply_to;
  decode_body(message.body, limits, job);
  return job;
}

} // namespace celeriac
