// RFC 6902 JSON patch and RFC 7386 JSON merge patch, with the project's own examples.
#include <gtest/gtest.h>

#include "apiserver/patch/patch.h"

namespace berth::apiserver::patch {
namespace {

using nlohmann::json;

json ok(const json& doc, const json& ops) {
  auto r = applyJsonPatch(doc, ops);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? r.value() : json();
}

TEST(JsonPatchTest, AddReplaceRemoveOnObjects) {
  json doc = R"({"metadata":{"name":"web"},"spec":{"replicas":1}})"_json;
  json out = ok(doc, R"([
      {"op":"add","path":"/metadata/labels","value":{"app":"web"}},
      {"op":"replace","path":"/spec/replicas","value":4},
      {"op":"remove","path":"/metadata/name"}])"_json);
  EXPECT_EQ(out, R"({"metadata":{"labels":{"app":"web"}},"spec":{"replicas":4}})"_json);
}

TEST(JsonPatchTest, ArrayInsertAppendAndRemove) {
  json doc = R"({"l":["a","c"]})"_json;
  EXPECT_EQ(ok(doc, R"([{"op":"add","path":"/l/1","value":"b"}])"_json), R"({"l":["a","b","c"]})"_json);
  EXPECT_EQ(ok(doc, R"([{"op":"add","path":"/l/-","value":"z"}])"_json), R"({"l":["a","c","z"]})"_json);
  EXPECT_EQ(ok(doc, R"([{"op":"add","path":"/l/2","value":"z"}])"_json), R"({"l":["a","c","z"]})"_json);
  EXPECT_EQ(ok(doc, R"([{"op":"remove","path":"/l/0"}])"_json), R"({"l":["c"]})"_json);
}

TEST(JsonPatchTest, PointerEscapes) {
  json doc = R"({"metadata":{"annotations":{"a/b":"1","c~d":"2"}}})"_json;
  json out = ok(doc, R"([{"op":"replace","path":"/metadata/annotations/a~1b","value":"x"},
                         {"op":"remove","path":"/metadata/annotations/c~0d"}])"_json);
  EXPECT_EQ(out, R"({"metadata":{"annotations":{"a/b":"x"}}})"_json);
  EXPECT_EQ(applyJsonPatch(doc, R"([{"op":"remove","path":"/metadata/~2"}])"_json).status().code(),
            Code::kBadRequest);
}

TEST(JsonPatchTest, MoveAndCopy) {
  json doc = R"({"a":{"x":1},"b":[1,2]})"_json;
  EXPECT_EQ(ok(doc, R"([{"op":"move","from":"/a/x","path":"/y"}])"_json), R"({"a":{},"b":[1,2],"y":1})"_json);
  EXPECT_EQ(ok(doc, R"([{"op":"copy","from":"/b","path":"/a/b"}])"_json),
            R"({"a":{"x":1,"b":[1,2]},"b":[1,2]})"_json);
  EXPECT_EQ(ok(doc, R"([{"op":"move","from":"/b/0","path":"/b/-"}])"_json), R"({"a":{"x":1},"b":[2,1]})"_json);
  auto into_child = applyJsonPatch(doc, R"([{"op":"move","from":"/a","path":"/a/x/y"}])"_json);
  EXPECT_EQ(into_child.status().code(), Code::kInvalid);
}

TEST(JsonPatchTest, TestOpGuardsTheRest) {
  json doc = R"({"spec":{"replicas":2}})"_json;
  EXPECT_EQ(ok(doc, R"([{"op":"test","path":"/spec/replicas","value":2},
                        {"op":"replace","path":"/spec/replicas","value":3}])"_json),
            R"({"spec":{"replicas":3}})"_json);
  auto r = applyJsonPatch(doc, R"([{"op":"replace","path":"/spec/replicas","value":3},
                                   {"op":"test","path":"/spec/replicas","value":2}])"_json);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("#1"), std::string::npos);
  EXPECT_NE(r.status().message().find("/spec/replicas"), std::string::npos);
}

TEST(JsonPatchTest, RolloutUndoReplacesTemplateAndAnnotations) {
  json doc = R"({"metadata":{"annotations":{"x":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"a","image":"v2"}]}}}})"_json;
  json out = ok(doc, R"([{"op":"replace","path":"/spec/template","value":{"spec":{"containers":[{"name":"a","image":"v1"}]}}},
                         {"op":"replace","path":"/metadata/annotations","value":{"y":"2"}}])"_json);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["image"], "v1");
  EXPECT_EQ(out["metadata"]["annotations"], R"({"y":"2"})"_json);
}

TEST(JsonPatchTest, MissingTargetsFailWithInvalid) {
  json doc = R"({"a":{},"l":[1]})"_json;
  for (const char* ops : {R"([{"op":"replace","path":"/nope","value":1}])",
                          R"([{"op":"remove","path":"/a/nope"}])",
                          R"([{"op":"add","path":"/x/y","value":1}])",
                          R"([{"op":"add","path":"/l/5","value":1}])",
                          R"([{"op":"add","path":"/l/01","value":1}])",
                          R"([{"op":"copy","from":"/nope","path":"/b"}])"}) {
    auto r = applyJsonPatch(doc, json::parse(ops));
    EXPECT_EQ(r.status().code(), Code::kInvalid) << ops;
  }
}

TEST(JsonPatchTest, MalformedOperationsAreBadRequests) {
  json doc = json::object();
  for (const char* ops : {R"({"op":"add"})", R"([{"path":"/a"}])", R"([{"op":"add","path":"/a"}])",
                          R"([{"op":"frobnicate","path":"/a"}])", R"([{"op":"add","path":"a","value":1}])",
                          R"([{"op":"move","path":"/a"}])", R"([3])"}) {
    auto r = applyJsonPatch(doc, json::parse(ops));
    EXPECT_EQ(r.status().code(), Code::kBadRequest) << ops;
  }
}

TEST(JsonPatchTest, ReplaceWholeDocument) {
  EXPECT_EQ(ok(R"({"a":1})"_json, R"([{"op":"replace","path":"","value":{"b":2}}])"_json),
            R"({"b":2})"_json);
}

TEST(JsonMergePatchTest, MergesRecursivelyAndNullDeletes) {
  json doc = R"({"metadata":{"labels":{"a":"1","b":"2"}},"spec":{"replicas":1,"list":[1,2]}})"_json;
  auto r = applyJsonMergePatch(doc, R"({"metadata":{"labels":{"b":null,"c":"3"}},
                                       "spec":{"replicas":3,"list":[9]}})"_json);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, R"({"metadata":{"labels":{"a":"1","c":"3"}},"spec":{"replicas":3,"list":[9]}})"_json);
}

TEST(JsonMergePatchTest, RfcEdgeCases) {
  // A non-object patch replaces the target; an object patch turns a scalar target into a map;
  // nulls inside new members vanish.
  EXPECT_EQ(*applyJsonMergePatch(R"({"a":1})"_json, R"(["x"])"_json), R"(["x"])"_json);
  EXPECT_EQ(*applyJsonMergePatch(R"({"a":"s"})"_json, R"({"a":{"b":1}})"_json), R"({"a":{"b":1}})"_json);
  EXPECT_EQ(*applyJsonMergePatch(R"({})"_json, R"({"a":{"b":null,"c":1}})"_json), R"({"a":{"c":1}})"_json);
  EXPECT_EQ(*applyJsonMergePatch(R"({"a":1})"_json, R"({})"_json), R"({"a":1})"_json);
}

TEST(JsonMergePatchTest, ScalePatch) {
  json doc = R"({"spec":{"replicas":1,"selector":{"matchLabels":{"app":"web"}}}})"_json;
  auto r = applyJsonMergePatch(doc, R"({"spec":{"replicas":3}})"_json);
  EXPECT_EQ((*r)["spec"]["replicas"], 3);
  EXPECT_EQ((*r)["spec"]["selector"], doc["spec"]["selector"]);
}

}  // namespace
}  // namespace berth::apiserver::patch
