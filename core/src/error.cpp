#include "celeriac/core/error.hpp"

#include <fmt/format.h>

namespace celeriac {

// Arguments are copied, not moved: their evaluation order is unspecified, and
// the message must be formatted before anything is moved from.
InvalidInput::InvalidInput(std::string field, std::string reason)
    : InvalidInput(fmt::format("{}: {}", field, reason), field, reason) {}

InvalidInput::InvalidInput(const std::string& message, std::string field, std::string reason)
    : Error(message), field_(std::move(field)), reason_(std::move(reason)) {}

namespace {
std::string config_message(const std::string& key, const std::string& reason,
                           std::optional<int> line) {
  if (line) return fmt::format("line {}: {}: {}", *line, key, reason);
  return fmt::format("{}: {}", key, reason);
}
} // namespace

ConfigError::ConfigError(std::string key, std::string reason, std::optional<int> line)
    : InvalidInput(config_message(key, reason, line), key, reason), line_(line) {}

} // namespace celeriac
