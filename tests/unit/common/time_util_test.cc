#include "common/time_util.h"

#include <gtest/gtest.h>

namespace berth {
namespace {
using namespace std::chrono;

TEST(TimeUtilTest, Rfc3339RoundTrip) {
  TimePoint t;
  ASSERT_TRUE(parseRfc3339("2024-05-01T10:20:30Z", &t));
  EXPECT_EQ(formatRfc3339(t), "2024-05-01T10:20:30Z");
  ASSERT_TRUE(parseRfc3339("2024-05-01T12:20:30+02:00", &t));
  EXPECT_EQ(formatRfc3339(t), "2024-05-01T10:20:30Z");
  ASSERT_TRUE(parseRfc3339("2024-05-01T10:20:30.123456Z", &t));
  EXPECT_EQ(formatRfc3339Micro(t), "2024-05-01T10:20:30.123456Z");
}

TEST(TimeUtilTest, Rfc3339RejectsMalformed) {
  TimePoint t;
  EXPECT_FALSE(parseRfc3339("2024-05-01 10:20:30Z", &t));
  EXPECT_FALSE(parseRfc3339("2024-13-01T10:20:30Z", &t));
  EXPECT_FALSE(parseRfc3339("2024-05-01T10:20:30", &t));
  EXPECT_FALSE(parseRfc3339("", &t));
  // Outside what a nanosecond TimePoint holds: rejected, not overflowed.
  EXPECT_FALSE(parseRfc3339("9999-12-31T23:59:59Z", &t));
  EXPECT_FALSE(parseRfc3339("0001-01-01T00:00:00Z", &t));
  EXPECT_TRUE(parseRfc3339("2261-12-31T23:59:59Z", &t));
}

TEST(TimeUtilTest, HumanDurationMatchesKubectl) {
  EXPECT_EQ(humanDuration(seconds(-5)), "<invalid>");
  EXPECT_EQ(humanDuration(seconds(0)), "0s");
  EXPECT_EQ(humanDuration(seconds(119)), "119s");
  EXPECT_EQ(humanDuration(seconds(150)), "2m30s");
  EXPECT_EQ(humanDuration(seconds(180)), "3m");
  EXPECT_EQ(humanDuration(minutes(45)), "45m");
  EXPECT_EQ(humanDuration(minutes(200)), "3h20m");
  EXPECT_EQ(humanDuration(hours(5)), "5h");
  EXPECT_EQ(humanDuration(hours(30)), "30h");
  EXPECT_EQ(humanDuration(hours(24 * 3 + 4)), "3d4h");
  EXPECT_EQ(humanDuration(hours(24 * 30)), "30d");
  EXPECT_EQ(humanDuration(hours(24 * (365 * 3 + 10))), "3y10d");
  EXPECT_EQ(humanDuration(hours(24 * 365 * 9)), "9y");
}

TEST(TimeUtilTest, AgeOfMissingTimestampIsUnknown) {
  EXPECT_EQ(ageString("", system_clock::now()), "<unknown>");
}

}  // namespace
}  // namespace berth

namespace berth {
namespace {

TEST(ParseDuration, AcceptsGoDurations) {
  using namespace std::chrono;
  nanoseconds d;
  ASSERT_TRUE(parseDuration("40s", &d));
  EXPECT_EQ(d, seconds(40));
  ASSERT_TRUE(parseDuration("1h30m", &d));
  EXPECT_EQ(d, minutes(90));
  ASSERT_TRUE(parseDuration("300ms", &d));
  EXPECT_EQ(d, milliseconds(300));
  ASSERT_TRUE(parseDuration("1.5s", &d));
  EXPECT_EQ(d, milliseconds(1500));
  ASSERT_TRUE(parseDuration("0", &d));
  EXPECT_EQ(d, nanoseconds(0));
}

TEST(ParseDuration, RejectsMalformedInput) {
  std::chrono::nanoseconds d;
  for (const char* bad : {"", "40", "s", "5x", "-5s", "1.s.", "5 s", "99999999999h"})
    EXPECT_FALSE(parseDuration(bad, &d)) << bad;
}

}  // namespace
}  // namespace berth
