#include "celeriac/core/config.hpp"

#include <algorithm>
#include <limits>

#include "config_reader.hpp"

namespace celeriac {
namespace {

using config_detail::TableReader;

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Returns the position just past the string that starts at POS (a TOML basic or
// literal string, single- or multi-line), counting the newlines it spans in LINE.
// An unterminated single-line string ends at the newline, where toml++ stops too.
std::size_t skip_string(std::string_view text, std::size_t pos, int& line) {
  const char quote = text[pos];
  const std::string triple(3, quote);
  const bool multi = text.substr(pos, 3) == triple;
  pos += multi ? 3 : 1;
  while (pos < text.size()) {
    const char c = text[pos];
    if (c == '\n' && !multi) return pos;
    if (c == '\n') ++line;
    if (c == '\\' && quote == '"' && pos + 1 < text.size()) {
      if (text[pos + 1] == '\n') ++line;
      pos += 2;
      continue;
    }
    if (c == quote && (!multi || text.substr(pos, 3) == triple)) {
      pos += multi ? 3 : 1;
      // A multi-line string may end with one or two quotes of its own: """a""""
      for (int extra = 0; multi && extra < 2 && pos < text.size() && text[pos] == quote; ++extra) {
        ++pos;
      }
      return pos;
    }
    ++pos;
  }
  return pos;
}

// toml++ builds a table per dotted-key segment and per array or inline-table
// level, and both it and our readers recurse over them: a few kilobytes of
// "a.a.a..." or "[[[[..." would exhaust the stack. This bounds, before parsing,
// the depth a value can sit at: the open brackets, each counting the dots of
// the key it is the value of, plus the dots of the key being read. (Keys under
// a [table.header] add the header's depth once more, so the tree is at most
// twice kMaxConfigNesting deep.)
class NestingCheck {
 public:
  explicit NestingCheck(const std::string& source) : source_(source) {}

  void scan(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
      const char c = text[pos];
      if (c == '"' || c == '\'') {
        pos = skip_string(text, pos, line_);
      } else if (c == '#') {
        pos = std::min(text.find('\n', pos), text.size());
      } else {
        step(c);
        ++pos;
      }
    }
  }

 private:
  void step(char c) {
    if (c == '[' || c == '{') {
      opened_.push_back(key_dots_ + 1);
      depth_ += key_dots_ + 1;
      key_dots_ = dots_ = 0;
    } else if ((c == ']' || c == '}') && !opened_.empty()) {
      depth_ -= opened_.back();
      opened_.pop_back();
      dots_ = 0;
    } else if (c == '.') {
      ++dots_;
    } else if (c == '=') {
      key_dots_ = dots_;
      dots_ = 0;
    } else if (!is_bare_key_char(c) && c != ' ' && c != '\t') {
      key_dots_ = dots_ = 0;
    }
    if (c == '\n') ++line_;
    if (depth_ + key_dots_ + dots_ > kMaxConfigNesting) {
      throw ConfigError(source_,
                        fmt::format("tables, arrays and dotted keys nested deeper than {} levels",
                                    kMaxConfigNesting),
                        line_);
    }
  }

  const std::string& source_;
  std::vector<int> opened_; // what each open bracket added to depth_
  int depth_ = 0;
  int key_dots_ = 0; // dots of the key whose value follows its '='
  int dots_ = 0;     // dots of the key being read
  int line_ = 1;
};

toml::table parse_toml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    const auto line = error.source().begin.line;
    throw ConfigError(source, std::string(error.description()),
                      line > 0 ? std::optional<int>(static_cast<int>(line)) : std::nullopt);
  }
}

bool matches(std::string_view pattern, std::string_view name) {
  if (pattern == "*") return true;
  if (pattern.size() < 2 || !pattern.ends_with(".*")) return false;
  const std::string_view prefix = pattern.substr(0, pattern.size() - 1); // keeps the '.'
  return name.size() > prefix.size() && name.starts_with(prefix);
}

// An exact name beats every pattern; a longer pattern beats a shorter one.
std::size_t specificity(const TaskConfig& entry, std::string_view name) {
  return entry.pattern == name ? std::numeric_limits<std::size_t>::max() : entry.pattern.size();
}

template <typename T>
void take(const TaskConfig& from, std::string_view key, const T& value, T& into) {
  if (from.sets(key)) into = value;
}

// Copies into INTO the keys FROM set.
void overlay(TaskConfig& into, const TaskConfig& from) {
  into.pattern = from.pattern;
  into.keys.insert(from.keys.begin(), from.keys.end());
  take(from, "queue", from.queue, into.queue);
  take(from, "priority", from.priority, into.priority);
  take(from, "soft_time_limit", from.soft_time_limit, into.soft_time_limit);
  take(from, "hard_time_limit", from.hard_time_limit, into.hard_time_limit);
  take(from, "rate_limit", from.rate_limit, into.rate_limit);
  take(from, "max_redeliveries", from.max_redeliveries, into.max_redeliveries);
  take(from, "ignore_result", from.ignore_result, into.ignore_result);
  take(from, "retry", from.retry, into.retry);
  take(from, "command", from.command, into.command);
  take(from, "env", from.env, into.env);
}

} // namespace

Config parse_config(std::string_view toml_text, std::string_view source_name) {
  const std::string source = source_name.empty() ? "<config>" : std::string(source_name);
  NestingCheck(source).scan(toml_text);
  const toml::table root = parse_toml(toml_text, source);
  TableReader(root, "").allow_only({"broker", "database", "queues", "tasks", "schedules", "worker",
                                    "pools", "alerts", "scheduler"});
  // Queues first: every other section refers to them.
  Config config;
  config_detail::read_queues(root, config);
  config_detail::read_scalar_sections(root, config);
  config_detail::read_tasks(root, config);
  config_detail::read_schedules(root, config);
  config_detail::read_pools(root, config);
  config_detail::read_alerts(root, config);
  return config;
}

const QueueConfig* Config::queue(std::string_view name) const {
  const auto it = std::find_if(queues.begin(), queues.end(),
                               [&](const QueueConfig& q) { return q.name == name; });
  return it == queues.end() ? nullptr : &*it;
}

TaskConfig Config::task(std::string_view name) const {
  std::vector<const TaskConfig*> applying;
  for (const TaskConfig& entry : tasks) {
    if (entry.pattern == name || matches(entry.pattern, name)) applying.push_back(&entry);
  }
  // Least specific first, so that each later entry's keys win.
  std::stable_sort(applying.begin(), applying.end(), [&](const TaskConfig* a, const TaskConfig* b) {
    return specificity(*a, name) < specificity(*b, name);
  });
  TaskConfig merged;
  merged.queue = config_detail::default_task_queue(*this);
  for (const TaskConfig* entry : applying)
    overlay(merged, *entry);
  return merged;
}

std::string_view to_string(QueueType type) {
  switch (type) {
    case QueueType::Classic:
      return "classic";
    case QueueType::Quorum:
      return "quorum";
  }
  return "?";
}

std::string_view to_string(CatchUp catch_up) {
  switch (catch_up) {
    case CatchUp::Skip:
      return "skip";
    case CatchUp::Once:
      return "once";
    case CatchUp::All:
      return "all";
  }
  return "?";
}

std::string_view to_string(PoolKind pool) {
  switch (pool) {
    case PoolKind::Process:
      return "process";
    case PoolKind::Thread:
      return "thread";
  }
  return "?";
}

std::string_view to_string(LogFormat format) {
  switch (format) {
    case LogFormat::Text:
      return "text";
    case LogFormat::Json:
      return "json";
  }
  return "?";
}

std::string_view to_string(AlertKind kind) {
  switch (kind) {
    case AlertKind::QueueDepth:
      return "queue_depth";
    case AlertKind::FailureRate:
      return "failure_rate";
    case AlertKind::Latency:
      return "latency";
  }
  return "?";
}

std::int64_t scheduler_lock_key(const Config& config) {
  if (config.scheduler.lock_key) return *config.scheduler.lock_key;
  std::uint64_t hash = 14695981039346656037ULL;
  for (const std::string_view part :
       {std::string_view("celeriac.scheduler:"), std::string_view(config.database.schema)}) {
    for (const char c : part) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
  }
  return static_cast<std::int64_t>(hash);
}

} // namespace celeriac
