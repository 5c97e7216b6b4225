// Checks on single values, shared by the file reader and by overrides.
#include <algorithm>
#include <charconv>

#include "celeriac/core/enqueue_options.hpp"
#include "config_reader.hpp"

namespace celeriac::config_detail {
namespace {

bool is_lower_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_letter_or_digit(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_space_or_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f;
}

// PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes.
constexpr std::size_t kMaxSqlIdentifier = 63;

std::optional<std::string> check_pattern(std::string_view name) {
  const auto star = name.find('*');
  if (star == std::string_view::npos || name == "*") return std::nullopt;
  const bool final_wildcard = star == name.size() - 1 && name.size() > 2 && name[star - 1] == '.';
  if (final_wildcard) return std::nullopt;
  return "may use '*' only alone or as a final \".*\" (\"cleanup.*\")";
}

} // namespace

std::optional<std::string> check_queue_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxQueueNameLength) {
    return fmt::format("must be at most {} bytes, got {}", kMaxQueueNameLength, name.size());
  }
  const bool valid = std::all_of(name.begin(), name.end(), [](char c) {
    return is_letter_or_digit(c) || c == '.' || c == '_' || c == '-';
  });
  if (!valid) {
    return fmt::format("may contain only letters, digits, '.', '_' and '-', got {}",
                       in_quotes(name));
  }
  return std::nullopt;
}

std::optional<std::string> check_task_name(std::string_view name, bool allow_pattern) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxTaskNameLength) {
    return fmt::format("must be at most {} bytes, got {}", kMaxTaskNameLength, name.size());
  }
  if (std::any_of(name.begin(), name.end(), is_space_or_control)) {
    return fmt::format("must not contain spaces or control characters, got {}", in_quotes(name));
  }
  if (!allow_pattern && name.find('*') != std::string_view::npos) {
    return fmt::format("must name one task, not a pattern, got {}", in_quotes(name));
  }
  return check_pattern(name);
}

std::optional<std::string> check_entry_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxQueueNameLength) {
    return fmt::format("must be at most {} bytes, got {}", kMaxQueueNameLength, name.size());
  }
  const bool control = std::any_of(name.begin(), name.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (control) return "must not contain control characters";
  return std::nullopt;
}

std::optional<std::string> check_sql_identifier(std::string_view name) {
  const bool valid = !name.empty() && (name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z')) &&
                     std::all_of(name.begin(), name.end(),
                                 [](char c) { return is_lower_or_digit(c) || c == '_'; });
  if (!valid) {
    return fmt::format("must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), got {}",
                       in_quotes(name));
  }
  if (name.size() > kMaxSqlIdentifier) {
    return fmt::format("must be at most {} bytes, got {}", kMaxSqlIdentifier, name.size());
  }
  return std::nullopt;
}

std::optional<std::string> check_url(std::string_view url,
                                     std::initializer_list<std::string_view> schemes) {
  const auto separator = url.find("://");
  const std::string_view scheme =
      separator == std::string_view::npos ? std::string_view() : url.substr(0, separator);
  const bool known = std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
  const bool clean = std::none_of(url.begin(), url.end(), is_space_or_control);
  if (known && clean && url.size() > separator + 3) return std::nullopt;
  std::string list;
  for (const std::string_view candidate : schemes) {
    list += fmt::format("{}{}://", list.empty() ? "" : " or ", candidate);
  }
  // The URL may hold a password: the message shows it redacted.
  return fmt::format("must be a URL starting with {} and without spaces, got {}", list,
                     in_quotes(redact_url(url)));
}

std::optional<std::string> check_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  const auto why = [&] {
    return fmt::format("must be \"host:port\" with a port from 1 to 65535, got {}",
                       in_quotes(text));
  };
  if (colon == std::string_view::npos || colon == 0) return why();
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  const bool bracketed = host.front() == '[' && host.back() == ']' && host.size() > 2;
  if (!bracketed && host.find_first_of(":[]") != std::string_view::npos) return why();
  if (std::any_of(host.begin(), host.end(), is_space_or_control)) return why();
  int number = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (error != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
    return why();
  }
  return std::nullopt;
}

std::optional<std::string> check_time_zone(std::string_view name) {
  const bool valid = !name.empty() && name.size() <= 64 && name.front() != '/' &&
                     name.find("..") == std::string_view::npos &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return is_letter_or_digit(c) || c == '/' || c == '_' || c == '+' || c == '-';
                     });
  if (valid) return std::nullopt;
  return fmt::format("must be an IANA time zone name such as \"Europe/Berlin\", got {}",
                     in_quotes(name));
}

std::optional<std::string> check_queue_list(const Config& config,
                                            const std::vector<std::string>& names) {
  if (names.empty()) return "must name at least one queue";
  for (auto it = names.begin(); it != names.end(); ++it) {
    if (auto why = check_queue_exists(config, *it)) return why;
    if (std::find(names.begin(), it, *it) != it) {
      return fmt::format("names queue {} twice", in_quotes(*it));
    }
  }
  return std::nullopt;
}

} // namespace celeriac::config_detail
