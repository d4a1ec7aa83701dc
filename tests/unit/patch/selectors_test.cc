// Label and field selectors: parsing, matching, canonical strings and upstream error texts.
#include <gtest/gtest.h>

#include <map>

#include "apiserver/patch/selectors.h"

namespace berth::apiserver::patch {
namespace {

using nlohmann::json;

LabelSelector parseOk(std::string_view s) {
  auto r = LabelSelector::parse(s);
  EXPECT_TRUE(r.isOk()) << s << ": " << r.status().toString();
  return r.isOk() ? r.value() : LabelSelector::nothing();
}

std::string parseErr(std::string_view s) {
  auto r = LabelSelector::parse(s);
  EXPECT_FALSE(r.isOk()) << s;
  if (r.isOk()) return "";
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  return r.status().message();
}

TEST(LabelSelectorTest, EqualityForms) {
  json labels = R"({"app":"web","tier":"fe"})"_json;
  EXPECT_TRUE(parseOk("app=web").matches(labels));
  EXPECT_TRUE(parseOk("app==web").matches(labels));
  EXPECT_FALSE(parseOk("app=db").matches(labels));
  EXPECT_TRUE(parseOk("app!=db").matches(labels));
  EXPECT_FALSE(parseOk("app!=web").matches(labels));
  EXPECT_TRUE(parseOk("missing!=x").matches(labels));  // absent keys satisfy !=
  EXPECT_TRUE(parseOk("app=web,tier=fe").matches(labels));
  EXPECT_FALSE(parseOk("app=web,tier=be").matches(labels));
}

TEST(LabelSelectorTest, SetForms) {
  json labels = R"({"env":"prod","app":"web"})"_json;
  EXPECT_TRUE(parseOk("env in (prod, staging)").matches(labels));
  EXPECT_FALSE(parseOk("env in (dev)").matches(labels));
  EXPECT_TRUE(parseOk("env notin (dev)").matches(labels));
  EXPECT_TRUE(parseOk("zone notin (a)").matches(labels));  // absent satisfies notin
  EXPECT_FALSE(parseOk("zone in (a)").matches(labels));
  EXPECT_TRUE(parseOk("app").matches(labels));
  EXPECT_FALSE(parseOk("zone").matches(labels));
  EXPECT_TRUE(parseOk("!zone").matches(labels));
  EXPECT_FALSE(parseOk("!app").matches(labels));
  EXPECT_TRUE(parseOk("  app ,  env in (prod) , !zone ").matches(labels));
}

TEST(LabelSelectorTest, KeywordsAsValues) {
  json labels = R"({"x":"in"})"_json;
  EXPECT_TRUE(parseOk("x in (in,notin)").matches(labels));
  EXPECT_TRUE(parseOk("x=in").matches(labels));
}

TEST(LabelSelectorTest, EmptyValues) {
  json labels = R"({"a":""})"_json;
  EXPECT_TRUE(parseOk("a=").matches(labels));
  EXPECT_TRUE(parseOk("a in ()").matches(labels));
  EXPECT_TRUE(parseOk("a in (x,)").matches(labels));
}

TEST(LabelSelectorTest, NullLabelsAndEmptySelector) {
  EXPECT_TRUE(parseOk("").empty());
  EXPECT_TRUE(parseOk("").matches(nullptr));
  EXPECT_TRUE(parseOk("!a").matches(nullptr));
  EXPECT_FALSE(parseOk("a").matches(nullptr));
  EXPECT_TRUE(LabelSelector().matches(json::object()));
}

TEST(LabelSelectorTest, CanonicalString) {
  EXPECT_EQ(parseOk("tier in (b, a),app=web").toString(), "app=web,tier in (a,b)");
  EXPECT_EQ(parseOk("!x, y notin (z), k==v, n!=m").toString(), "k==v,n!=m,!x,y notin (z)");
}

TEST(LabelSelectorTest, GreaterAndLessThan) {
  json labels = R"({"gen":"5"})"_json;
  EXPECT_TRUE(parseOk("gen>3").matches(labels));
  EXPECT_FALSE(parseOk("gen<3").matches(labels));
  EXPECT_NE(parseErr("gen>x").find("the value must be an integer"), std::string::npos);
}

TEST(LabelSelectorTest, ParseErrorsReadLikeUpstream) {
  EXPECT_EQ(parseErr("a=b c"), "found 'c', expected: ',' or 'end of string'");
  EXPECT_EQ(parseErr("a,"), "found '', expected: identifier after ','");
  EXPECT_EQ(parseErr("=a"), "found '=', expected: !, identifier, or 'end of string'");
  EXPECT_EQ(parseErr("a in b"), "unable to parse requirement: found 'b' expected: '('");
  EXPECT_EQ(parseErr("a in (b"), "unable to parse requirement: found '', expected: ',' or ')'");
  EXPECT_EQ(parseErr("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  EXPECT_EQ(parseErr("a=b$"),
            "unable to parse requirement: values[0][a]: Invalid value: \"b$\": a valid label must "
            "be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
            "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
  EXPECT_EQ(parseErr("-a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of "
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
}

TEST(LabelValidationTest, Keys) {
  EXPECT_TRUE(validateLabelKey("app").empty());
  EXPECT_TRUE(validateLabelKey("app.kubernetes.io/name").empty());
  EXPECT_TRUE(validateLabelKey("a_b.c-d").empty());
  EXPECT_EQ(validateLabelKey("/a"), std::vector<std::string>{"prefix part must be non-empty"});
  EXPECT_EQ(validateLabelKey("example.com/")[0], "name part must be non-empty");
  EXPECT_EQ(validateLabelKey(std::string(64, 'a'))[0], "name part must be no more than 63 characters");
  EXPECT_TRUE(validateLabelKey(std::string(63, 'a')).empty());
  auto prefix = validateLabelKey("Example.com/a");
  ASSERT_EQ(prefix.size(), 1u);
  EXPECT_EQ(prefix[0].rfind("prefix part a lowercase RFC 1123 subdomain", 0), 0u);
  EXPECT_EQ(validateLabelKey("a/b/c")[0].rfind("a qualified name must consist of", 0), 0u);
}

TEST(LabelValidationTest, Values) {
  EXPECT_TRUE(validateLabelValue("").empty());
  EXPECT_TRUE(validateLabelValue("v1.2_3-x").empty());
  EXPECT_FALSE(validateLabelValue("-x").empty());
  EXPECT_FALSE(validateLabelValue("x y").empty());
  EXPECT_EQ(validateLabelValue(std::string(64, 'v'))[0], "must be no more than 63 characters");
}

TEST(LabelSelectorTest, FromObject) {
  auto r = LabelSelector::fromObject(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]},
                          {"key":"canary","operator":"DoesNotExist"}]})"_json);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->toString(), "app=web,!canary,tier in (be,fe)");
  EXPECT_TRUE(r->matches(R"({"app":"web","tier":"fe"})"_json));
  EXPECT_FALSE(r->matches(R"({"app":"web","tier":"fe","canary":"1"})"_json));
  EXPECT_FALSE(r->matches(R"({"app":"web"})"_json));
}

TEST(LabelSelectorTest, FromObjectEmptyAndNull) {
  auto everything = LabelSelector::fromObject(json::object());
  ASSERT_TRUE(everything.isOk());
  EXPECT_TRUE(everything->empty());
  EXPECT_TRUE(everything->matches(R"({"x":"y"})"_json));
  auto nothing = LabelSelector::fromObject(nullptr);
  ASSERT_TRUE(nothing.isOk());
  EXPECT_TRUE(nothing->matchesNothing());
  EXPECT_FALSE(nothing->matches(R"({"x":"y"})"_json));
}

TEST(LabelSelectorTest, FromObjectErrors) {
  auto bad_op = LabelSelector::fromObject(R"({"matchExpressions":[{"key":"a","operator":"Near"}]})"_json);
  EXPECT_EQ(bad_op.status().code(), Code::kInvalid);
  EXPECT_EQ(bad_op.status().message(), "\"Near\" is not a valid label selector operator");
  auto no_values = LabelSelector::fromObject(R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})"_json);
  EXPECT_EQ(no_values.status().message(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
  auto exists_values = LabelSelector::fromObject(R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})"_json);
  EXPECT_NE(exists_values.status().message().find("values set must be empty"), std::string::npos);
  auto bad_value = LabelSelector::fromObject(R"({"matchLabels":{"app":"no spaces"}})"_json);
  EXPECT_EQ(bad_value.status().code(), Code::kInvalid);
  EXPECT_NE(bad_value.status().message().find("values[0][app]"), std::string::npos);
}

TEST(FieldSelectorTest, ParseAndMatch) {
  auto r = FieldSelector::parse("spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->requirements().size(), 3u);
  std::map<std::string, std::string> pod = {{"spec.nodeName", "n1"}, {"status.phase", "Running"}};
  auto get = [&](const std::string& f) -> std::optional<std::string> {
    auto it = pod.find(f);
    if (it == pod.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_TRUE(r->matches(get));
  pod["status.phase"] = "Failed";
  EXPECT_FALSE(r->matches(get));
  EXPECT_EQ(r->requiresExactMatch("spec.nodeName"), "n1");
  EXPECT_EQ(r->requiresExactMatch("status.phase"), std::nullopt);
}

TEST(FieldSelectorTest, DoubleEqualsAndEmpty) {
  auto r = FieldSelector::parse("metadata.name==web");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->requirements()[0].field, "metadata.name");
  EXPECT_EQ(r->requirements()[0].value, "web");
  EXPECT_TRUE(FieldSelector::parse("")->empty());
  // A missing field reads as "".
  auto none = [](const std::string&) { return std::optional<std::string>(); };
  EXPECT_TRUE(FieldSelector::parse("spec.nodeName=")->matches(none));
  EXPECT_FALSE(FieldSelector::parse("spec.nodeName=x")->matches(none));
}

TEST(FieldSelectorTest, Escapes) {
  auto r = FieldSelector::parse(R"(metadata.name=a\,b\=c\\d)");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->requirements().size(), 1u);
  EXPECT_EQ(r->requirements()[0].value, R"(a,b=c\d)");
  EXPECT_EQ(r->toString(), R"(metadata.name=a\,b\=c\\d)");
  EXPECT_EQ(FieldSelector::parse(R"(a=b\x)").status().message(),
            "invalid field selector: invalid escape sequence: \\x");
  EXPECT_EQ(FieldSelector::parse("a=b=c").status().message(),
            "invalid field selector: unescaped character in value: 61");
}

TEST(FieldSelectorTest, Errors) {
  auto r = FieldSelector::parse("metadata.name");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_EQ(r.status().message(), "invalid selector: 'metadata.name'; can't understand 'metadata.name'");
}

}  // namespace
}  // namespace berth::apiserver::patch
