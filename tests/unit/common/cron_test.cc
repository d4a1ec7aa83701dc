#include "common/cron.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TimePoint at(const char* s) {
  TimePoint t;
  EXPECT_TRUE(parseRfc3339(s, &t)) << s;
  return t;
}

std::string nextOf(const std::string& spec, const char* after, const TimeZone& tz = TimeZone()) {
  auto c = CronSchedule::parse(spec);
  EXPECT_TRUE(c.isOk()) << c.status().toString();
  if (!c.isOk()) return "";
  auto t = c->next(at(after), tz);
  return t ? formatRfc3339(*t) : "none";
}

TEST(CronSchedule, NextTimes) {
  EXPECT_EQ(nextOf("* * * * *", "2026-03-01T10:00:00Z"), "2026-03-01T10:01:00Z");
  EXPECT_EQ(nextOf("* * * * *", "2026-03-01T10:00:30Z"), "2026-03-01T10:01:00Z");
  EXPECT_EQ(nextOf("*/15 * * * *", "2026-03-01T10:01:00Z"), "2026-03-01T10:15:00Z");
  EXPECT_EQ(nextOf("5/20 * * * *", "2026-03-01T10:30:00Z"), "2026-03-01T10:45:00Z");
  EXPECT_EQ(nextOf("0 9-17 * * MON-FRI", "2026-02-27T17:30:00Z"), "2026-03-02T09:00:00Z");  // Fri -> Mon
  EXPECT_EQ(nextOf("@hourly", "2026-03-01T10:00:00Z"), "2026-03-01T11:00:00Z");
  EXPECT_EQ(nextOf("@daily", "2026-12-31T23:59:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(nextOf("@weekly", "2026-03-01T00:00:00Z"), "2026-03-08T00:00:00Z");  // Sundays
  EXPECT_EQ(nextOf("@monthly", "2026-01-31T12:00:00Z"), "2026-02-01T00:00:00Z");
  EXPECT_EQ(nextOf("@yearly", "2026-03-01T00:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(nextOf("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(nextOf("0 0 30 2 *", "2026-03-01T00:00:00Z"), "none");
}

TEST(CronSchedule, RestrictedDayFieldsMatchEither) {
  // The 13th or any Friday (both restricted).
  EXPECT_EQ(nextOf("0 0 13 * FRI", "2026-03-01T00:00:00Z"), "2026-03-06T00:00:00Z");
  EXPECT_EQ(nextOf("0 0 13 * FRI", "2026-03-10T00:00:00Z"), "2026-03-13T00:00:00Z");
  // A star day-of-week: only the 13th.
  EXPECT_EQ(nextOf("0 0 13 * *", "2026-03-01T00:00:00Z"), "2026-03-13T00:00:00Z");
}

TEST(CronSchedule, ParseErrors) {
  auto err = [](const std::string& s) { return CronSchedule::parse(s).status().message(); };
  EXPECT_EQ(err("* * * *"), "expected exactly 5 fields, found 4: [* * * *]");
  EXPECT_EQ(err("* 24 * * *"), "end of range (24) above maximum (23): 24");
  EXPECT_EQ(err("* * 0 * *"), "beginning of range (0) below minimum (1): 0");
  EXPECT_EQ(err("5-1 * * * *"), "beginning of range (5) beyond end of range (1): 5-1");
  EXPECT_EQ(err("*/0 * * * *"), "step of range should be a positive number: */0");
  EXPECT_EQ(err("x * * * *"), "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax");
  EXPECT_EQ(err("@fortnightly"), "unrecognized descriptor: @fortnightly");
}

TEST(TimeZone, LoadsZoneFilesAndAppliesDaylightSaving) {
  auto ny = TimeZone::load("America/New_York");
  ASSERT_TRUE(ny.isOk()) << ny.status().toString();
  EXPECT_EQ(ny->offsetAt(at("2026-01-15T12:00:00Z")).count(), -5 * 3600);
  EXPECT_EQ(ny->offsetAt(at("2026-07-15T12:00:00Z")).count(), -4 * 3600);
  // 09:00 New York is 14:00 UTC in winter and 13:00 UTC in summer.
  EXPECT_EQ(nextOf("0 9 * * *", "2026-01-15T00:00:00Z", *ny), "2026-01-15T14:00:00Z");
  EXPECT_EQ(nextOf("0 9 * * *", "2026-07-15T00:00:00Z", *ny), "2026-07-15T13:00:00Z");
  // Across the spring change (2026-03-08): midnight local still runs the next day.
  EXPECT_EQ(nextOf("0 0 * * *", "2026-03-08T05:30:00Z", *ny), "2026-03-09T04:00:00Z");
  EXPECT_EQ(TimeZone::load("Mars/Olympus").status().message(), "unknown time zone Mars/Olympus");
  EXPECT_FALSE(TimeZone::load("../etc/passwd").isOk());
  EXPECT_EQ(TimeZone::load("UTC")->offsetAt(at("2026-07-15T12:00:00Z")).count(), 0);
}

}  // namespace
}  // namespace berth
