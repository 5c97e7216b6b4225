// celeriac's exception tree.
//
//   Error                  everything celeriac throws on purpose
//   ├── InvalidInput       bad input from outside: a message, a config value, a
//   │   │                  CLI argument, an API call. Names the field and why.
//   │   ├── DecodeError    a broker message that cannot be a job
//   │   └── ConfigError    a configuration key, with its line when known
//   └── InfrastructureError  a server (broker, database) unreachable or failing
//
// Bugs are assertions, not exceptions. Task outcomes are values (see retry_policy.hpp).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

namespace celeriac {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InvalidInput : public Error {
 public:
  InvalidInput(std::string field, std::string reason);
  // What was wrong, e.g. "priority" or "headers.eta".
  const std::string& field() const noexcept { return field_; }
  // Why, e.g. "must be between 0 and 9, got 12".
  const std::string& reason() const noexcept { return reason_; }

 protected:
  // For subclasses whose what() says more than "field: reason".
  InvalidInput(const std::string& message, std::string field, std::string reason);

 private:
  std::string field_;
  std::string reason_;
};

class DecodeError : public InvalidInput {
 public:
  using InvalidInput::InvalidInput;
};

class ConfigError : public InvalidInput {
 public:
  // KEY is the dotted path ("queues.high.max_priority"); LINE the 1-based line
  // in the file, when the value came from one.
  ConfigError(std::string key, std::string reason, std::optional<int> line = std::nullopt);
  std::optional<int> line() const noexcept { return line_; }

 private:
  std::optional<int> line_;
};

class InfrastructureError : public Error {
 public:
  using Error::Error;
};

} // namespace celeriac
