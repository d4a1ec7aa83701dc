#include "common/strings.h"

#include <gtest/gtest.h>

namespace berth {
namespace {

TEST(StringsTest, SplitKeepsEmptyParts) {
  auto p = split("a,,b", ',');
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[1], "");
}

TEST(StringsTest, UrlDecode) {
  EXPECT_EQ(urlDecode("metadata.name%3Dweb", true), "metadata.name=web");
  EXPECT_EQ(urlDecode("a+b", true), "a b");
  EXPECT_EQ(urlDecode("a+b", false), "a+b");
  EXPECT_EQ(urlDecode("bad%zz", true), "bad%zz");
  EXPECT_EQ(urlDecode("%4", true), "%4");
}

TEST(StringsTest, Base64RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    std::string out;
    ASSERT_TRUE(base64Decode(base64Encode(s), &out));
    EXPECT_EQ(out, s);
  }
  std::string out;
  EXPECT_FALSE(base64Decode("ab$c", &out));
}

TEST(StringsTest, UuidShape) {
  std::string u = newUuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '4');
  EXPECT_NE(newUuid(), u);
}

}  // namespace
}  // namespace berth
