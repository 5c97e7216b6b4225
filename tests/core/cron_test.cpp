#include "celeriac/core/cron.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "celeriac/core/error.hpp"

using celeriac::CronExpression;
using celeriac::InvalidInput;
namespace chrono = std::chrono;

namespace {

template <std::size_t N>
std::vector<int> values(const std::bitset<N>& bits) {
  std::vector<int> out;
  for (std::size_t i = 0; i < N; ++i) {
    if (bits[i]) out.push_back(static_cast<int>(i));
  }
  return out;
}

std::vector<int> range(int first, int last, int step = 1) {
  std::vector<int> out;
  for (int v = first; v <= last; v += step)
    out.push_back(v);
  return out;
}

// The reason parse() gives for TEXT, or "parsed" if it accepts it.
std::string error_of(std::string_view text) {
  try {
    CronExpression::parse(text);
  } catch (const InvalidInput& e) {
    CHECK(e.field() == "cron");
    return e.reason();
  }
  return "parsed";
}

chrono::local_seconds local(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return chrono::local_days{chrono::year{y} / m / d} + chrono::hours(hh) + chrono::minutes(mm) +
         chrono::seconds(ss);
}

chrono::year_month_day ymd(int y, unsigned m, unsigned d) {
  return chrono::year{y} / m / d;
}

} // namespace

TEST_CASE("five fields: every value form") {
  const auto cron = CronExpression::parse("5,10-12,*/20 1-10/3 */10 2/4 *");
  CHECK(values(cron.seconds()) == std::vector<int>{0});
  CHECK(values(cron.minutes()) == std::vector<int>{0, 5, 10, 11, 12, 20, 40});
  CHECK(values(cron.hours()) == std::vector<int>{1, 4, 7, 10});
  CHECK(values(cron.days_of_month()) == std::vector<int>{1, 11, 21, 31});
  CHECK(values(cron.months()) == std::vector<int>{2, 6, 10});
  CHECK(values(cron.days_of_week()) == range(0, 6));
  CHECK(cron.text() == "5,10-12,*/20 1-10/3 */10 2/4 *");
}

TEST_CASE("stars cover each field's whole range") {
  const auto cron = CronExpression::parse("* * * * *");
  CHECK(values(cron.minutes()) == range(0, 59));
  CHECK(values(cron.hours()) == range(0, 23));
  CHECK(values(cron.days_of_month()) == range(1, 31));
  CHECK(values(cron.months()) == range(1, 12));
  CHECK(values(cron.days_of_week()) == range(0, 6));
  CHECK(cron.hour_is_wildcard());
}

TEST_CASE("six fields start with seconds") {
  const auto cron = CronExpression::parse("*/15 30 2 * * *");
  CHECK(values(cron.seconds()) == std::vector<int>{0, 15, 30, 45});
  CHECK(values(cron.minutes()) == std::vector<int>{30});
  CHECK(values(cron.hours()) == std::vector<int>{2});
  CHECK_FALSE(cron.hour_is_wildcard());
}

TEST_CASE("month and weekday names, any case") {
  const auto cron = CronExpression::parse("0 0 * jan,Mar-MAY,oct/2 mon-FRI,sun");
  CHECK(values(cron.months()) == std::vector<int>{1, 3, 4, 5, 10, 12});
  CHECK(values(cron.days_of_week()) == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(values(CronExpression::parse("0 0 * * Sat/2").days_of_week()) == std::vector<int>{6});
}

TEST_CASE("weekday 7 is Sunday like 0") {
  CHECK(values(CronExpression::parse("0 0 * * 7").days_of_week()) == std::vector<int>{0});
  CHECK(values(CronExpression::parse("0 0 * * 5-7").days_of_week()) == std::vector<int>{0, 5, 6});
  CHECK(values(CronExpression::parse("0 0 * * */7").days_of_week()) == std::vector<int>{0});
  CHECK(CronExpression::parse("0 0 * * sun").days_of_week() ==
        CronExpression::parse("0 0 * * 7").days_of_week());
}

TEST_CASE("a step past the range keeps only the start") {
  CHECK(values(CronExpression::parse("*/90 * * * *").minutes()) == std::vector<int>{0});
  CHECK(values(CronExpression::parse("7/99999999999999999999 * * * *").minutes()) ==
        std::vector<int>{7});
}

TEST_CASE("macros expand to their five-field lines and keep their text") {
  const auto same = [](std::string_view macro, std::string_view line) {
    const auto a = CronExpression::parse(macro);
    const auto b = CronExpression::parse(line);
    CHECK(a.text() == macro);
    CHECK(a.minutes() == b.minutes());
    CHECK(a.hours() == b.hours());
    CHECK(a.days_of_month() == b.days_of_month());
    CHECK(a.months() == b.months());
    CHECK(a.days_of_week() == b.days_of_week());
    CHECK(a.hour_is_wildcard() == b.hour_is_wildcard());
  };
  same("@yearly", "0 0 1 1 *");
  same("@annually", "0 0 1 1 *");
  same("@monthly", "0 0 1 * *");
  same("@weekly", "0 0 * * 0");
  same("@daily", "0 0 * * *");
  same("@midnight", "0 0 * * *");
  same("@HOURLY", "0 * * * *");
}

TEST_CASE("surrounding and repeated whitespace is ignored") {
  const auto cron = CronExpression::parse("  \t0   12 * *\t* \n");
  CHECK(cron.text() == "0   12 * *\t*");
  CHECK(values(cron.hours()) == std::vector<int>{12});
}

TEST_CASE("field count errors") {
  CHECK(error_of("* * * *") == "expected 5 or 6 fields, got 4");
  CHECK(error_of("* * * * * * *") == "expected 5 or 6 fields, got 7");
  CHECK(error_of("") == "expected 5 or 6 fields, got 0");
  CHECK(error_of("   ") == "expected 5 or 6 fields, got 0");
}

TEST_CASE("out of range values name the field and its bounds") {
  CHECK(error_of("61 * * * *") == "minute field '61' out of range 0-59");
  CHECK(error_of("60 * * * * *") == "second field '60' out of range 0-59");
  CHECK(error_of("0 24 * * *") == "hour field '24' out of range 0-23");
  CHECK(error_of("0 0 0 * *") == "day-of-month field '0' out of range 1-31");
  CHECK(error_of("0 0 32 * *") == "day-of-month field '32' out of range 1-31");
  CHECK(error_of("0 0 * 13 *") == "month field '13' out of range 1-12");
  CHECK(error_of("0 0 * 0 *") == "month field '0' out of range 1-12");
  CHECK(error_of("0 0 * * 8") == "day-of-week field '8' out of range 0-7");
  CHECK(error_of("0 0 * * 1-8") == "day-of-week field '8' out of range 0-7");
  CHECK(error_of("99999999999999999999 * * * *") ==
        "minute field '99999999999999999999' out of range 0-59");
}

TEST_CASE("bad values, names and steps") {
  CHECK(error_of("x * * * *") == "minute field 'x' is not a number");
  CHECK(error_of("0 mon * * *") == "hour field 'mon' is not a number");
  CHECK(error_of("0 0 * foo *") == "month field 'foo' is neither a number nor a name");
  CHECK(error_of("0 0 * * monday") == "day-of-week field 'monday' is neither a number nor a name");
  CHECK(error_of("-5 * * * *") == "minute field has an empty value in '-5'");
  CHECK(error_of("5- * * * *") == "minute field has an empty value in '5-'");
  CHECK(error_of("1-2-3 * * * *") == "minute field '2-3' is not a number");
  CHECK(error_of("*/0 * * * *") == "step must be positive in '*/0'");
  CHECK(error_of("0 1-5/0 * * *") == "step must be positive in '1-5/0'");
  CHECK(error_of("*/ * * * *") == "minute field step '' is not a number in '*/'");
  CHECK(error_of("*/x * * * *") == "minute field step 'x' is not a number in '*/x'");
  CHECK(error_of("*/2/3 * * * *") == "minute field step '2/3' is not a number in '*/2/3'");
  CHECK(error_of("*/-1 * * * *") == "minute field step '-1' is not a number in '*/-1'");
}

TEST_CASE("backwards ranges and empty list items") {
  CHECK(error_of("0 5-3 * * *") == "hour field range '5-3' runs backwards");
  CHECK(error_of("0 0 * * fri-mon") == "day-of-week field range 'fri-mon' runs backwards");
  CHECK(error_of("1,,2 * * * *") == "minute field '1,,2' has an empty list item");
  CHECK(error_of("0 0 1, * *") == "day-of-month field '1,' has an empty list item");
  CHECK(error_of("0 0 * * ,") == "day-of-week field ',' has an empty list item");
}

TEST_CASE("macro errors") {
  CHECK(error_of("@reboot") == "unknown macro '@reboot'");
  CHECK(error_of("@") == "unknown macro '@'");
  CHECK(error_of("@daily 5") == "macro '@daily' takes no fields");
}

TEST_CASE("InvalidInput's message is prefixed with the field") {
  try {
    CronExpression::parse("61 * * * *");
    FAIL("parse accepted a bad minute");
  } catch (const InvalidInput& e) {
    CHECK(std::string(e.what()) == "cron: minute field '61' out of range 0-59");
  }
}

TEST_CASE("Vixie day semantics: both day fields restricted means either matches") {
  // 2026-04-03 is a Friday and 2026-04-13 a Monday.
  const auto either = CronExpression::parse("0 0 13 * 5");
  CHECK(either.matches_day(ymd(2026, 4, 3)));
  CHECK(either.matches_day(ymd(2026, 4, 13)));
  CHECK_FALSE(either.matches_day(ymd(2026, 4, 14)));

  // A `*`-led day field (even a step) makes both fields required.
  const auto both = CronExpression::parse("0 0 */2 * 5");
  CHECK(both.matches_day(ymd(2026, 4, 3)));
  CHECK_FALSE(both.matches_day(ymd(2026, 4, 10)));
  CHECK_FALSE(both.matches_day(ymd(2026, 4, 13)));

  const auto weekday_star = CronExpression::parse("0 0 13 * *");
  CHECK(weekday_star.matches_day(ymd(2026, 4, 13)));
  CHECK_FALSE(weekday_star.matches_day(ymd(2026, 4, 3)));

  const auto weekday_step = CronExpression::parse("0 0 13 * */5");
  CHECK_FALSE(weekday_step.matches_day(ymd(2026, 4, 13)));
  CHECK(weekday_step.matches_day(ymd(2026, 11, 13))); // a Friday
}

TEST_CASE("the month field applies under both day semantics") {
  const auto cron = CronExpression::parse("0 0 13 jun 5");
  CHECK_FALSE(cron.matches_day(ymd(2026, 4, 3)));
  CHECK(cron.matches_day(ymd(2026, 6, 5)));
  CHECK(cron.matches_day(ymd(2026, 6, 13)));
}

TEST_CASE("matches checks every field down to the second") {
  const auto cron = CronExpression::parse("10 30 2 * * mon");
  CHECK(cron.matches(local(2026, 4, 13, 2, 30, 10)));
  CHECK_FALSE(cron.matches(local(2026, 4, 13, 2, 30, 11)));
  CHECK_FALSE(cron.matches(local(2026, 4, 14, 2, 30, 10)));
}

TEST_CASE("next_match skips to the next allowed value and respects the bound") {
  const auto cron = CronExpression::parse("0 15 9-17/4 * * *");
  CHECK(cron.next_match(local(2026, 1, 1, 10), local(2027, 1, 1)) == local(2026, 1, 1, 13, 15));
  CHECK(cron.next_match(local(2026, 1, 1, 13, 15), local(2027, 1, 1)) == local(2026, 1, 1, 13, 15));
  CHECK(cron.next_match(local(2026, 1, 1, 17, 16), local(2027, 1, 1)) == local(2026, 1, 2, 9, 15));
  CHECK_FALSE(cron.next_match(local(2026, 1, 1, 17, 16), local(2026, 1, 2, 9, 15)));
  CHECK(cron.next_match(local(2026, 12, 31, 23), local(2027, 2, 1)) == local(2027, 1, 1, 9, 15));
}

TEST_CASE("next_match finds nothing for a date that never exists") {
  const auto cron = CronExpression::parse("0 0 30 2 *");
  CHECK_FALSE(cron.next_match(local(2000, 1, 1), local(2400, 1, 1)));
}
