// Rate limits as Celery writes them: "10/s", "100/m", "1000/h", or a bare
// number meaning per second.
#pragma once

#include <optional>
#include <string_view>

#include "celeriac/core/config.hpp"

namespace celeriac {

// nullopt unless TEXT is such a rate with a positive, finite count.
std::optional<RateLimit> parse_rate_limit(std::string_view text);

// The time between two starts under RATE.
Duration rate_interval(const RateLimit& rate);

} // namespace celeriac
