#include "apiserver/core/json_text.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace berth::apiserver::jsontext {
namespace {

TEST(JsonTextTest, MemberValueFindsTopLevelMembersOnly) {
  std::string s = R"({"a":{"metadata":1},"metadata":{"name":"x","s":"},\"q"},"z":[1,{"b":2}]})";
  EXPECT_EQ(memberValue(s, "\"metadata\""), R"({"name":"x","s":"},\"q"})");
  EXPECT_EQ(memberValue(s, "\"z\""), R"([1,{"b":2}])");
  EXPECT_EQ(memberValue(s, "\"b\""), "");
  EXPECT_EQ(memberValue("[1]", "\"a\""), "");
  EXPECT_EQ(memberValue(R"({"a":tru)", "\"b\""), "");
}

TEST(JsonTextTest, WithoutMemberCutsFirstMiddleLastAndOnly) {
  auto cut = [](const std::string& s, const char* key) { return withoutMember(s, key); };
  EXPECT_EQ(cut(R"({"m":[{"x":"]}"}],"n":1})", "\"m\""), R"({"n":1})");
  EXPECT_EQ(cut(R"({"a":1,"m":{"b":[]},"n":2})", "\"m\""), R"({"a":1,"n":2})");
  EXPECT_EQ(cut(R"({"a":1,"m":{"b":[]}})", "\"m\""), R"({"a":1})");
  EXPECT_EQ(cut(R"({"m":"v"})", "\"m\""), "{}");
  EXPECT_EQ(cut(R"({"a":1})", "\"m\""), R"({"a":1})");
  // The result is the same object a tree would give without the member.
  nlohmann::json obj = {{"name", "p"}, {"managedFields", {{{"manager", "k"}}}}, {"uid", "u"}};
  nlohmann::json want = obj;
  want.erase("managedFields");
  EXPECT_EQ(nlohmann::json::parse(cut(obj.dump(), "\"managedFields\"")), want);
}


TEST(JsonTextTest, ValueAtFollowsMembersNotNestedNamesakes) {
  std::string s = R"({"a":{"spec":{"n":"no"}},"spec" : {"x":"n","n":"y\"es"},"n":"top"})";
  EXPECT_EQ(valueAt(s, {"\"spec\"", "\"n\""}), R"("y\"es")");
  EXPECT_EQ(valueAt(s, {"\"n\""}), R"("top")");
  EXPECT_EQ(valueAt(s, {"\"spec\"", "\"m\""}), "");
  EXPECT_EQ(valueAt(s, {"\"n\"", "\"x\""}), "");  // a step that is not an object
  EXPECT_EQ(valueAt(R"({"a":[1,2]})", {"\"a\""}), "[1,2]");
  EXPECT_EQ(valueAt("{\"a\": true\n, \"b\": 1 }", {"\"a\""}), "true");
  EXPECT_EQ(valueAt("{\"a\": true\n, \"b\": 1 }", {"\"b\""}), "1");
}

TEST(JsonTextTest, StringValueUnescapes) {
  EXPECT_EQ(stringValue(R"("plain")"), "plain");
  EXPECT_EQ(stringValue(R"("a\"b\\c\u00e9\n")"), "a\"b\\c\xc3\xa9\n");
  EXPECT_EQ(stringValue(R"("")"), "");
  EXPECT_EQ(stringValue("5"), std::nullopt);
  EXPECT_EQ(stringValue("null"), std::nullopt);
  EXPECT_EQ(stringValue(""), std::nullopt);
}

}  // namespace
}  // namespace berth::apiserver::jsontext
