// Job -> Celery protocol v2 message.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "celeriac/core/celery_protocol.hpp"
#include "celeriac/core/error.hpp"

namespace celeriac {
namespace {

constexpr std::size_t kReprLimit = 1024; // Celery's argsrepr is a bounded repr

HeaderValue optional_text(const std::optional<std::string>& text) {
  return text ? HeaderValue(*text) : HeaderValue();
}

HeaderValue optional_id(const std::optional<JobId>& id) {
  return id ? HeaderValue(id->str()) : HeaderValue();
}

HeaderValue optional_time(const std::optional<Timestamp>& t) {
  return t ? HeaderValue(format_iso8601(*t)) : HeaderValue();
}

// Whole seconds go out as integers, as a Python client sends `time_limit=300`.
HeaderValue seconds_value(const std::optional<Duration>& d) {
  if (!d) return {};
  if (d->count() % 1'000'000 == 0) return HeaderValue(std::int64_t{d->count() / 1'000'000});
  return HeaderValue(to_seconds(*d));
}

std::string dump_json(const nlohmann::json& value, const char* field) {
  try {
    return value.dump();
  } catch (const nlohmann::json::type_error& e) {
    throw InvalidInput(field, fmt::format("cannot be encoded as JSON: {}", e.what()));
  }
}

std::string bounded_repr(const std::string& text) {
  if (text.size() <= kReprLimit) return text;
  // Cut on a UTF-8 character boundary so the header stays valid text.
  std::size_t cut = kReprLimit - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  return text.substr(0, cut) + "...";
}

// Optional headers with nothing to say are left out rather than sent void:
// Celery reads a missing header as None (its Request uses .get, its task
// Context has class defaults), and every header costs RabbitMQ a decode on
// each publish (docs/PERFORMANCE.md, "Reading the figures").
void set_present(HeaderTable& h, std::string key, HeaderValue value) {
  if (!value.is_void()) h.set(std::move(key), std::move(value));
}

// The table's reserve: the headers a common job carries (about ten: the
// fixed ones, root_id, origin, sent-at) and then some. Sized for all 17 Celery
// headers, the block went past glibc's small sizes, and every such request
// first merges the arena's free fast chunks; a job with more grows once.
constexpr std::size_t kCommonHeaders = 12;

HeaderTable celery_headers(const Job& job, const std::string& args, const std::string& kwargs) {
  HeaderTable h;
  h.reserve(kCommonHeaders + job.extra_headers.size());
  h.set("lang", "py"); // what Celery workers and monitors expect to see
  h.set("task", job.task);
  h.set("id", job.id.str());
  set_present(h, "shadow", optional_text(job.shadow));
  set_present(h, "eta", optional_time(job.eta));
  set_present(h, "expires", optional_time(job.expires));
  set_present(h, "group", optional_text(job.group));
  set_present(h, "group_index", job.group_index ? HeaderValue(*job.group_index) : HeaderValue());
  h.set("retries", job.retries);
  if (job.hard_time_limit || job.soft_time_limit) {
    h.set("timelimit",
          HeaderArray{seconds_value(job.hard_time_limit), seconds_value(job.soft_time_limit)});
  }
  set_present(h, "root_id", optional_id(job.root_id));
  set_present(h, "parent_id", optional_id(job.parent_id));
  h.set("argsrepr", job.argsrepr.value_or(bounded_repr(args)));
  h.set("kwargsrepr", job.kwargsrepr.value_or(bounded_repr(kwargs)));
  set_present(h, "origin", optional_text(job.origin));
  h.set("ignore_result", job.ignore_result);
  if (job.sent_at) h.set(std::string(kSentAtHeader), format_iso8601(*job.sent_at));
  for (const auto& [key, value] : job.extra_headers) {
    if (!h.find(key)) h.set(key, value);
  }
  return h;
}

} // namespace

nlohmann::json usual_embed() {
  return {{"callbacks", nullptr}, {"errbacks", nullptr}, {"chain", nullptr}, {"chord", nullptr}};
}

Message encode_job(const Job& job, std::optional<Timestamp> now) {
  const std::string args = dump_json(job.args, "args");
  const std::string kwargs = dump_json(job.kwargs, "kwargs");
  static const std::string usual = usual_embed().dump();
  const std::string embed = job.embed.is_null() ? usual : dump_json(job.embed, "embed");

  Message message;
  message.properties.correlation_id = job.id.str();
  message.properties.priority = std::clamp(job.priority, kMinPriority, kMaxPriority);
  message.properties.reply_to = job.reply_to;
  if (job.expires && now) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*job.expires - *now);
    message.properties.expiration = std::to_string(std::max<std::int64_t>(left.count(), 1));
  }
  message.headers = celery_headers(job, args, kwargs);
  message.body.reserve(args.size() + kwargs.size() + embed.size() + 6);
  message.body.append("[").append(args).append(", ").append(kwargs).append(", ");
  message.body.append(embed).append("]");
  return message;
}

} // namespace celeriac
