// parseJson gives the tree nlohmann::json::parse gives, valid input or not.
#include "common/json_parse.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace berth {
namespace {

using nlohmann::json;

bool validUtf8(const std::string& text) {
  try {
    (void)json(text).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// Both parsers agree: both reject, or both accept with equal trees of equal number types. (Where
// the text is not valid UTF-8, parseJson reads bad bytes as U+FFFD and nlohmann refuses; then
// parseJson's answer only has to serialise.)
void expectSameAsNlohmann(const std::string& text) {
  json got = parseJson(text);
  if (!validUtf8(text)) {
    if (!got.is_discarded()) EXPECT_NO_THROW((void)got.dump()) << "input: " << text;
    return;
  }
  json want = json::parse(text, nullptr, false);
  ASSERT_EQ(got.is_discarded(), want.is_discarded()) << "input: " << text;
  if (want.is_discarded()) return;
  EXPECT_EQ(got, want) << "input: " << text;
  // json's == compares 1 and 1.0 equal; the serialisation tells the number types apart.
  EXPECT_EQ(got.dump(), want.dump()) << "input: " << text;
}

const char* kPod =
    R"({"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"note":"caf\u00e9 \ud83d\ude00 tab\tquote\" slash\/ back\\"},
  "creationTimestamp":"2026-11-28T10:00:00Z","generateName":"web-5d9f-","labels":{"app":"web","pod-template-hash":"5d9f"},
  "managedFields":[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}}},
  "manager":"kube-controller-manager","operation":"Update","time":"2026-11-28T10:00:00Z"}],"name":"web-5d9f-abcde",
  "namespace":"default","ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,
  "kind":"ReplicaSet","name":"web-5d9f","uid":"0b1c"}],"resourceVersion":"12345","uid":"9f3e"},
  "spec":{"containers":[{"env":[{"name":"RATIO","value":"0.5"}],"image":"nginx:1.25","name":"nginx",
  "ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{"limits":{"cpu":"500m"},"requests":{"cpu":"100m","memory":"64Mi"}}}],
  "priority":0,"terminationGracePeriodSeconds":30,"tolerations":[{"effect":"NoExecute","key":"node.kubernetes.io/unreachable",
  "operator":"Exists","tolerationSeconds":300}]},"status":{"phase":"Pending","qosClass":"Burstable","ratio":-2.5e-3,
  "big":18446744073709551615,"bigger":18446744073709551616,"negative":-9223372036854775808,"below":-9223372036854775809,
  "zero":-0,"float":1.0,"exp":1E+2,"tiny":1e-400,"empty":{},"none":[],"nulls":[null,true,false]}})";

TEST(JsonParseTest, ValidDocumentsGiveTheSameTree) {
  for (const char* text : {kPod,
                           "0",
                           "-1",
                           "1.5",
                           "\"s\"",
                           "true",
                           "false",
                           "null",
                           "[]",
                           "{}",
                           " \t\r\n[1, 2 ,3 ]\n",
                           R"({"a":1,"a":2})",
                           R"({"b":1,"a":[{"c":null}]})",
                           "\xEF\xBB\xBF{\"bom\":1}",
                           R"("\u0000x")",
                           R"("\u20AC\uD834\uDD1E")",
                           "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"",
                           "123456789012345678901234567890",
                           "-123456789012345678901234567890",
                           "2.2250738585072014e-308",
                           "4.9e-324",
                           "1.7976931348623157e308"}) {
    expectSameAsNlohmann(text);
  }
}

TEST(JsonParseTest, InvalidDocumentsAreDiscarded) {
  for (const char* text : {"",
                           " ",
                           "{",
                           "[",
                           "]",
                           "{\"a\"}",
                           "{\"a\":}",
                           "{\"a\":1,}",
                           "[1,]",
                           "[1 2]",
                           "01",
                           "-",
                           "1.",
                           ".5",
                           "1e",
                           "1e+",
                           "+1",
                           "1e999",
                           "-1e999",
                           "tru",
                           "nul",
                           "falsey",
                           "\"open",
                           "\"bad \\x escape\"",
                           "\"\\u12\"",
                           "\"\\uD800\"",
                           "\"\\uD800\\u0041\"",
                           "\"\\uDC00\"",
                           "\"tab\tinside\"",
                           "{} {}",
                           "[] x",
                           "{1:2}",
                           "NaN",
                           "// c\n1",
                           "\xEF\xBB",
                           "[\"a\"\x00]"}) {
    expectSameAsNlohmann(text);
  }
  // nlohmann takes a NUL byte where a token starts for the end of the input.
  for (std::string text : {std::string("[1]\0x", 5), std::string("1 \0", 3), std::string("\0", 1),
                           std::string("[1,\0]", 5), std::string("\"a\0\"", 4)}) {
    expectSameAsNlohmann(text);
  }
}

// Bytes that start no valid UTF-8 sequence become U+FFFD each, as Go's decoder reads them
// (nlohmann refuses the document; the API server must not).
TEST(JsonParseTest, InvalidUtf8BecomesTheReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  for (const auto& [text, want] :
       std::vector<std::pair<std::string, std::string>>{{"\"\xC0\xAF\"", r + r},
                                                        {"\"\xED\xA0\x80\"", r + r + r},
                                                        {"\"a\xF4\x90\x80\x80"
                                                         "b\"",
                                                         "a" + r + r + r + r + "b"},
                                                        {"\"\xE2\x82\"", r + r},
                                                        {"\"\xFF\"", r},
                                                        {"\"\xC3\x28\"", r + "("}}) {
    json got = parseJson(text);
    ASSERT_TRUE(got.is_string()) << text << " " << got.dump();
    EXPECT_EQ(got.get<std::string>(), want) << text;
    EXPECT_NO_THROW((void)got.dump());
  }
}

TEST(JsonParseTest, DeepNestingFallsBackInsteadOfExhaustingTheStack) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  json got = parseJson(deep);
  ASSERT_FALSE(got.is_discarded());
  EXPECT_TRUE(got.is_array());
  std::string unbalanced(100000, '{');
  EXPECT_TRUE(parseJson(unbalanced).is_discarded());
  std::string at_limit(kMaxFastDepth, '[');
  at_limit += std::string(kMaxFastDepth, ']');
  expectSameAsNlohmann(at_limit);
}

TEST(JsonParseTest, RepeatedKeysAreReportedWithTheirPaths) {
  std::vector<std::string> dups;
  json out;
  ASSERT_TRUE(parseJsonFast(R"({"a":1,"spec":{"containers":[{"name":"x"},{"name":"y","name":"z"}],)"
                            R"("m":[[{"k":1,"k":2}]]},"a":3})",
                            &out, &dups));
  EXPECT_EQ(dups, (std::vector<std::string>{"spec.containers[1].name", "spec.m[0][0].k", "a"}));
  EXPECT_EQ(out["a"], 3);
  EXPECT_EQ(out["spec"]["containers"][1]["name"], "z");
  EXPECT_FALSE(parseJsonFast("{\"a\":", &out, &dups));
  std::string deep(kMaxFastDepth + 1, '[');
  EXPECT_FALSE(parseJsonFast(deep + std::string(kMaxFastDepth + 1, ']'), &out))
      << "too deep for the fast path";
}

TEST(JsonParseTest, ProjectionBuildsOnlyTheMembersNamed) {
  JsonProjection p;
  p.keep({"metadata", "name"})
      .keepShape({"spec", "containers"})
      .keep({"spec", "init", "name"})
      .keep({"status"});
  json out;
  ASSERT_TRUE(parseJsonProjected(
      R"({"metadata":{"name":"web","labels":{"a":"b"}},"spec":{"containers":[{"name":"a","env":[{"v":"]}\"{["}]},)"
      R"({"name":"b"}],"init":[{"name":"i","image":"x"},"scalar"],"volumes":[1,2.5e3,true,null,{"x":[[]]}]},)"
      R"("status":{"phase":"Running","n":[1,{"m":{}}]},"kind":"Pod"})",
      p, &out));
  EXPECT_EQ(out, json::parse(R"({"metadata":{"name":"web"},"spec":{"containers":[{},{}],
      "init":[{"name":"i"},"scalar"]},"status":{"phase":"Running","n":[1,{"m":{}}]}})"));
  // Skipped values at the end of an object, and whitespace around them.
  ASSERT_TRUE(parseJsonProjected(R"( { "kind" : "Pod" , "metadata" : { "uid" : 7 } } )", p, &out));
  EXPECT_EQ(out, json::parse(R"({"metadata":{}})"));
  for (const char* bad : {R"({"kind":"Pod)", R"({"kind":[1,2})", R"({"kind":1)",
                          R"({"kind":1 "x":2})", R"({"metadata":{"name":"a"},"kind":})"}) {
    EXPECT_FALSE(parseJsonProjected(bad, p, &out)) << bad;
  }
  JsonProjection all;
  all.whole = true;
  ASSERT_TRUE(parseJsonProjected(kPod, all, &out));
  EXPECT_EQ(out, json::parse(kPod));
}

// Every single-byte change, cut and insertion of a document agrees with nlohmann: the parser
// accepts and rejects exactly what nlohmann does, wherever the damage falls.
TEST(JsonParseTest, DamagedDocumentsAgreeWithNlohmann) {
  const std::string base = kPod;
  std::mt19937 rng(20261128);
  std::string alphabet = "{}[]\",:\\/ \t\n0123456789-+.eEtrufalsn\x01\x7f\x80\xC3\xA9\xED\xF0";
  alphabet.push_back('\0');
  for (int i = 0; i < 10000; ++i) {
    std::string text = base;
    size_t at = rng() % text.size();
    switch (rng() % 3) {
      case 0:
        text[at] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        text.erase(at, 1 + rng() % 8);
        break;
      default:
        text.insert(at, 1, alphabet[rng() % alphabet.size()]);
        break;
    }
    expectSameAsNlohmann(text);
    if (HasFatalFailure()) return;
  }
  for (size_t cut = 0; cut < base.size(); cut += 7) expectSameAsNlohmann(base.substr(0, cut));
}

}  // namespace
}  // namespace berth
