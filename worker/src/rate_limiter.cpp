#include "celeriac/worker/rate_limiter.hpp"

#include <algorithm>

#include "celeriac/core/rate_limit.hpp"

namespace celeriac::worker {

void RateLimiter::set_override(const std::string& task, std::optional<RateLimit> rate) {
  overrides_[task] = rate;
  next_free_.erase(task); // the new limit starts from now, not from the old schedule
}

std::optional<RateLimit> RateLimiter::effective(const std::string& task,
                                                const std::optional<RateLimit>& defined) const {
  const auto it = overrides_.find(task);
  return it != overrides_.end() ? it->second : defined;
}

Duration RateLimiter::next_slot_in(const std::string& task, Timestamp now) const {
  const auto it = next_free_.find(task);
  return it == next_free_.end() || it->second <= now ? Duration::zero() : it->second - now;
}

Duration RateLimiter::reserve(const std::string& task, const RateLimit& rate, Timestamp now) {
  auto [it, fresh] = next_free_.try_emplace(task, now);
  const Timestamp slot = std::max(it->second, now);
  it->second = slot + rate_interval(rate);
  return slot - now;
}

} // namespace celeriac::worker
