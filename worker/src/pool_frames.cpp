#include "pool_frames.hpp"

#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "celeriac/core/error.hpp"

namespace celeriac::worker::detail {
namespace {

// A job frame's tags. Only ever appended to: a tag's meaning never changes.
enum class Field : std::uint8_t {
  Id = 1,
  Task,
  Args,
  Kwargs,
  Queue,
  Priority,
  Eta,
  Expires,
  Retries,
  SoftTimeLimit,
  HardTimeLimit,
  ParentId,
  RootId,
  Group,
  GroupIndex,
  IgnoreResult,
  Shadow,
  Origin,
  ReplyTo,
  Argsrepr,
  Kwargsrepr,
  SentAt,
  Embed,
  ExtraHeaders,
};

constexpr std::string_view kFieldNames[] = {"",
                                            "id",
                                            "task",
                                            "args",
                                            "kwargs",
                                            "queue",
                                            "priority",
                                            "eta",
                                            "expires",
                                            "retries",
                                            "soft_time_limit",
                                            "hard_time_limit",
                                            "parent_id",
                                            "root_id",
                                            "group",
                                            "group_index",
                                            "ignore_result",
                                            "shadow",
                                            "origin",
                                            "reply_to",
                                            "argsrepr",
                                            "kwargsrepr",
                                            "sent_at",
                                            "embed",
                                            "extra_headers"};
static_assert(std::size(kFieldNames) == static_cast<std::size_t>(Field::ExtraHeaders) + 1);

// N as 4 big-endian bytes at AT.
void store_u32(char* at, std::uint32_t n) {
  for (int i = 0; i < 4; ++i)
    at[i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
}

void put_u32(std::string& out, std::uint32_t n) {
  out.append(4, '\0');
  store_u32(out.data() + out.size() - 4, n);
}

std::uint64_t get_u64(std::string_view bytes) {
  std::uint64_t n = 0;
  for (const char c : bytes)
    n = (n << 8) | static_cast<unsigned char>(c);
  return n;
}

std::uint32_t get_u32(std::string_view bytes) {
  return static_cast<std::uint32_t>(get_u64(bytes.substr(0, 4)));
}

// A frame under construction: room for the length first, filled in by done().
class FrameWriter {
 public:
  explicit FrameWriter(std::size_t expected) {
    out_.reserve(4 + expected);
    out_.append(4, '\0');
  }

  void bytes(Field field, std::string_view value) {
    out_.push_back(static_cast<char>(field));
    put_u32(out_, static_cast<std::uint32_t>(value.size()));
    out_.append(value);
  }
  void text(Field field, const std::optional<std::string>& value) {
    if (value) bytes(field, *value);
  }
  void number(Field field, std::int64_t value) {
    out_.push_back(static_cast<char>(field));
    put_u32(out_, 8);
    const auto n = static_cast<std::uint64_t>(value);
    for (int shift = 56; shift >= 0; shift -= 8)
      out_.push_back(static_cast<char>((n >> shift) & 0xff));
  }
  void number(Field field, const std::optional<int>& value) {
    if (value) number(field, *value);
  }
  void micros(Field field, const std::optional<Timestamp>& value) {
    if (value) number(field, value->time_since_epoch().count());
  }
  void micros(Field field, const std::optional<Duration>& value) {
    if (value) number(field, value->count());
  }
  void id(Field field, const JobId& value) {
    bytes(field, std::string_view(reinterpret_cast<const char*>(value.bytes().data()),
                                  value.bytes().size()));
  }
  void id(Field field, const std::optional<JobId>& value) {
    if (value) id(field, *value);
  }
  void json(Field field, const nlohmann::json& value) {
    bytes(field, value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

  // Over kMaxFrameBytes, the frame is the caller's to refuse
  // (ProcessPool::run fails the job as JobTooLarge).
  std::string done() && {
    store_u32(out_.data(), static_cast<std::uint32_t>(out_.size() - 4));
    return std::move(out_);
  }

 private:
  std::string out_;
};

// One field of a job frame, for job_from_frame.
struct FieldValue {
  Field field;
  std::string_view bytes;

  std::string name() const {
    const auto tag = static_cast<std::size_t>(field);
    if (tag > 0 && tag < std::size(kFieldNames)) return fmt::format("frame.{}", kFieldNames[tag]);
    return fmt::format("frame field {}", tag);
  }

  std::int64_t number() const {
    if (bytes.size() != 8) throw DecodeError(name(), "a number is 8 bytes");
    return static_cast<std::int64_t>(get_u64(bytes));
  }
  int small_number() const {
    const std::int64_t n = number();
    if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max())
      throw DecodeError(name(), "out of range");
    return static_cast<int>(n);
  }
  JobId id() const {
    JobId::Bytes raw{};
    if (bytes.size() != raw.size()) throw DecodeError(name(), "an id is 16 bytes");
    std::memcpy(raw.data(), bytes.data(), raw.size());
    return JobId(raw);
  }
  nlohmann::json json() const {
    nlohmann::json value = nlohmann::json::parse(bytes, nullptr, false);
    if (value.is_discarded()) throw DecodeError(name(), "not JSON");
    return value;
  }
};

} // namespace

void FrameReader::append(std::string_view bytes) {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
    // A frame of up to 64 MiB leaves the buffer that big: give it back once
    // it is spent, rather than keep it for the child's whole life.
    if (buffer_.empty() && buffer_.capacity() > (1u << 20)) std::string().swap(buffer_);
  }
  buffer_.append(bytes);
}

std::optional<std::string_view> FrameReader::next() {
  const std::string_view rest = std::string_view(buffer_).substr(consumed_);
  if (rest.size() < 4) return std::nullopt;
  const std::uint32_t n = get_u32(rest);
  if (n > kMaxFrameBytes)
    throw DecodeError("frame", "length " + std::to_string(n) + " is over the limit");
  if (rest.size() < 4 + std::size_t{n}) return std::nullopt;
  consumed_ += 4 + std::size_t{n};
  return rest.substr(4, n);
}

std::string job_frame(const Job& job) {
  FrameWriter w(256 + job.task.size() + job.queue.size());
  w.id(Field::Id, job.id);
  w.bytes(Field::Task, job.task);
  w.json(Field::Args, job.args);
  w.json(Field::Kwargs, job.kwargs);
  w.bytes(Field::Queue, job.queue);
  if (job.priority != 0) w.number(Field::Priority, job.priority);
  w.micros(Field::Eta, job.eta);
  w.micros(Field::Expires, job.expires);
  if (job.retries != 0) w.number(Field::Retries, job.retries);
  w.micros(Field::SoftTimeLimit, job.soft_time_limit);
  w.micros(Field::HardTimeLimit, job.hard_time_limit);
  w.id(Field::ParentId, job.parent_id);
  w.id(Field::RootId, job.root_id);
  w.text(Field::Group, job.group);
  w.number(Field::GroupIndex, job.group_index);
  if (job.ignore_result) w.bytes(Field::IgnoreResult, "");
  w.text(Field::Shadow, job.shadow);
  w.text(Field::Origin, job.origin);
  w.text(Field::ReplyTo, job.reply_to);
  w.text(Field::Argsrepr, job.argsrepr);
  w.text(Field::Kwargsrepr, job.kwargsrepr);
  w.micros(Field::SentAt, job.sent_at);
  if (!job.embed.is_null()) w.json(Field::Embed, job.embed);
  if (!job.extra_headers.empty()) w.json(Field::ExtraHeaders, to_json(job.extra_headers));
  return std::move(w).done();
}

Job job_from_frame(std::string_view payload) try {
  Job job;
  bool has_id = false, has_task = false, has_args = false, has_kwargs = false, has_queue = false;
  while (!payload.empty()) {
    if (payload.size() < 5) throw DecodeError("frame", "a field cut short");
    const std::uint32_t n = get_u32(payload.substr(1));
    const FieldValue v{static_cast<Field>(payload[0]), payload.substr(5, n)};
    if (v.bytes.size() != n) throw DecodeError(v.name(), "longer than the frame");
    payload.remove_prefix(5 + std::size_t{n});
    const auto time = [&] { return Timestamp(Duration(v.number())); };
    const auto text = [&] { return std::string(v.bytes); };
    switch (v.field) {
      case Field::Id:
        job.id = v.id();
        has_id = true;
        break;
      case Field::Task:
        job.task = text();
        has_task = true;
        break;
      case Field::Args:
        job.args = v.json();
        has_args = true;
        break;
      case Field::Kwargs:
        job.kwargs = v.json();
        has_kwargs = true;
        break;
      case Field::Queue:
        job.queue = text();
        has_queue = true;
        break;
      case Field::Priority:
        job.priority = v.small_number();
        break;
      case Field::Eta:
        job.eta = time();
        break;
      case Field::Expires:
        job.expires = time();
        break;
      case Field::Retries:
        job.retries = v.small_number();
        break;
      case Field::SoftTimeLimit:
        job.soft_time_limit = Duration(v.number());
        break;
      case Field::HardTimeLimit:
        job.hard_time_limit = Duration(v.number());
        break;
      case Field::ParentId:
        job.parent_id = v.id();
        break;
      case Field::RootId:
        job.root_id = v.id();
        break;
      case Field::Group:
        job.group = text();
        break;
      case Field::GroupIndex:
        job.group_index = v.small_number();
        break;
      case Field::IgnoreResult:
        if (!v.bytes.empty()) throw DecodeError(v.name(), "a flag has no bytes");
        job.ignore_result = true;
        break;
      case Field::Shadow:
        job.shadow = text();
        break;
      case Field::Origin:
        job.origin = text();
        break;
      case Field::ReplyTo:
        job.reply_to = text();
        break;
      case Field::Argsrepr:
        job.argsrepr = text();
        break;
      case Field::Kwargsrepr:
        job.kwargsrepr = text();
        break;
      case Field::SentAt:
        job.sent_at = time();
        break;
      case Field::Embed:
        job.embed = v.json();
        break;
      case Field::ExtraHeaders: {
        const HeaderValue headers = header_from_json(v.json());
        const auto* table = headers.get_if<HeaderTable>();
        if (table == nullptr) throw DecodeError(v.name(), "the extra headers are not a table");
        job.extra_headers = *table;
        break;
      }
      default:
        throw DecodeError(v.name(), "not a field of a job");
    }
  }
  if (!has_id || !has_task || !has_args || !has_kwargs || !has_queue)
    throw DecodeError("frame", "a job's id, task, args, kwargs or queue is missing");
  return job;
} catch (const nlohmann::json::exception& e) {
  throw DecodeError("frame", e.what());
}

std::string outcome_frame(const TaskOutcome& outcome) {
  const auto* success = std::get_if<Succeeded>(&outcome);
  const std::string text = (success ? success->result : to_json(outcome))
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (1 + text.size() > kMaxFrameBytes) {
    // Too big for the pipe: the job fails for good, rather than its child
    // being taken for broken and the job retried into the same wall.
    return outcome_frame(
        Failed{success ? "ResultTooLarge" : "OutcomeTooLarge", ErrorKind::Validation,
               fmt::format("the task's {} is {} bytes of JSON, over the process pool's limit of {}",
                           success ? "result" : "error", text.size(), kMaxFrameBytes - 1),
               std::nullopt, std::nullopt});
  }
  std::string frame;
  frame.reserve(5 + text.size());
  put_u32(frame, static_cast<std::uint32_t>(1 + text.size()));
  frame.push_back(success ? 'S' : 'J');
  frame += text;
  return frame;
}

TaskOutcome outcome_from_frame(std::string_view payload) {
  if (payload.empty()) throw DecodeError("outcome", "empty");
  nlohmann::json value = nlohmann::json::parse(payload.substr(1), nullptr, false);
  if (value.is_discarded()) throw DecodeError("outcome", "not JSON");
  if (payload[0] == 'S') return Succeeded{std::move(value)};
  if (payload[0] == 'J') return outcome_from_json(value);
  throw DecodeError("outcome", "an unknown kind of outcome frame");
}

} // namespace celeriac::worker::detail
