#include "celeriac/core/rate_limit.hpp"

#include <charconv>
#include <cmath>

namespace celeriac {
namespace {

std::optional<Duration> rate_period(std::string_view unit) {
  if (unit == "s") return std::chrono::seconds(1);
  if (unit == "m") return std::chrono::minutes(1);
  if (unit == "h") return std::chrono::hours(1);
  return std::nullopt;
}

} // namespace

std::optional<RateLimit> parse_rate_limit(std::string_view text) {
  const auto slash = text.find('/');
  const std::string_view number = text.substr(0, slash);
  double count = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (error != std::errc() || end != number.data() + number.size() || number.empty()) {
    return std::nullopt;
  }
  const auto per = rate_period(slash == std::string_view::npos ? "s" : text.substr(slash + 1));
  if (!per || !std::isfinite(count) || count <= 0) return std::nullopt;
  return RateLimit{count, *per};
}

Duration rate_interval(const RateLimit& rate) {
  const double micros = std::chrono::duration<double, std::micro>(rate.per).count() / rate.count;
  return Duration(static_cast<Duration::rep>(std::min(micros, 1e15)));
}

} // namespace celeriac
