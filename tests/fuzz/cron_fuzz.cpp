// Cron text from outside (config files, the CLI, the API) must either parse
// or throw InvalidInput; any other exception, crash or sanitizer report is a
// bug. Parsed expressions must give fire times strictly after the search
// instant, that match the expression (checked in UTC), within the horizon.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "celeriac/core/cron.hpp"
#include "celeriac/core/error.hpp"
#include "celeriac/core/schedule.hpp"

namespace {

namespace chrono = std::chrono;
using celeriac::Timestamp;

// Around DST changes in New York, a leap day, a year end and the epoch.
constexpr Timestamp kStarts[] = {
    Timestamp{chrono::sys_days{chrono::year{2026} / 3 / 8} + chrono::hours(6)},
    Timestamp{chrono::sys_days{chrono::year{2026} / 11 / 1} + chrono::hours(5) +
              chrono::minutes(45)},
    Timestamp{chrono::sys_days{chrono::year{2028} / 2 / 28} + chrono::microseconds(1)},
    Timestamp{chrono::sys_days{chrono::year{2026} / 12 / 31} + chrono::hours(23) +
              chrono::minutes(59) + chrono::seconds(59)},
    Timestamp{},
};

void check_fire(const celeriac::Schedule& schedule, Timestamp start, bool utc) {
  const auto fire = schedule.next_after(start);
  if (!fire) return;
  if (*fire <= start) __builtin_trap();
  if (*fire - start > chrono::duration_cast<celeriac::Duration>(celeriac::Schedule::kHorizon) +
                          chrono::seconds(1)) {
    __builtin_trap();
  }
  if (utc) {
    const chrono::local_seconds local{chrono::floor<chrono::seconds>(*fire).time_since_epoch()};
    if (!schedule.cron_expression()->matches(local)) __builtin_trap();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<celeriac::CronExpression> cron;
  try {
    cron = celeriac::CronExpression::parse(text);
  } catch (const celeriac::InvalidInput&) {
    return 0;
  }
  // The kept text must read back to the same expression.
  if (!(celeriac::CronExpression::parse(cron->text()) == *cron)) __builtin_trap();
  const auto utc = celeriac::Schedule::cron(text, "UTC");
  const auto new_york = celeriac::Schedule::cron(text, "America/New_York");
  for (const auto start : kStarts) {
    check_fire(utc, start, true);
    check_fire(new_york, start, false);
  }
  return 0;
}
