// Helpers shared by the integration tiers (*_rmqtest, *_pgtest).
//
// The private servers are found through the variables `scripts/services env`
// prints. A missing variable fails the test with a message saying how to run
// it: an integration test never passes by skipping its server.
#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace celeriac::test {

// The value of the environment variable NAME; throws std::runtime_error naming
// the variable when it is unset or empty.
std::string required_env(const char* name);

// PREFIX followed by 16 random hex digits: a queue or schema name that no
// other test, run or checkout uses.
std::string unique_name(const std::string& prefix);

// Polls CONDITION until it returns true or TIMEOUT passes; returns its last
// answer. For waiting on a server, never a fixed sleep.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(10));

} // namespace celeriac::test
