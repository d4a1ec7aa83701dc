#include "apiserver/core/object_filter.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "apiserver/core/watch_cache.h"

namespace berth::apiserver {
namespace {

using nlohmann::json;

const KindSpec& kind(const std::string& group, const std::string& resource) {
  const KindSpec* k = KindRegistry::builtin().byResource(group, "v1", resource);
  EXPECT_NE(k, nullptr) << resource;
  return *k;
}

ObjectFilter filter(const KindSpec& k, const std::string& fields, const std::string& labels = "") {
  http::Request req;
  if (!fields.empty()) req.query.emplace("fieldSelector", fields);
  if (!labels.empty()) req.query.emplace("labelSelector", labels);
  auto f = ObjectFilter::fromRequest(k, req);
  EXPECT_TRUE(f.isOk()) << fields << " " << labels;
  return std::move(f).value();
}

// Text evaluation (the watch fan-out's) against the tree evaluation, on compact and indented text.
void expectSameAsTree(const ObjectFilter& f, const json& obj, const std::string& what) {
  bool tree = f.matches(obj);
  CachedObject compact("k", 1, obj.dump());
  CachedObject indented("k", 1, obj.dump(2));
  EXPECT_EQ(f.matches(compact), tree) << what << " on " << obj.dump();
  EXPECT_EQ(f.matches(indented), tree) << what << " on " << obj.dump(2);
}

// Objects with the traps a text scan can fall into: escaped strings, the same key nested
// elsewhere (and as a label or annotation), missing members, wrong value types.
std::vector<json> trickyObjects() {
  return {
      json::parse(R"({"metadata":{"name":"p\"1","namespace":"d\\ns","labels":{"app":"w\"eb","spec":"x"},
                     "annotations":{"spec.nodeName":"n1","nodeName":"n1"}},
                     "spec":{"template":{"spec":{"nodeName":"n1"}},"containers":[{"nodeName":"n1"}],
                     "nodeName":"n2","hostNetwork":true,"unschedulable":true},
                     "status":{"phase":"Run\u00e9ning","conditions":[{"phase":"Running"}]},
                     "involvedObject":{"kind":"Pod","name":"a,b","uid":"u\n1"},"reason":"Sched\tuled",
                     "source":{"component":"default-scheduler"},"type":"Normal",
                     "regarding":{"name":"r"},"reportingController":"c"})"),
      json::parse(R"({"metadata":{"name":"q","namespace":"default"},"spec":{"nodeName":"n1"}})"),
      json::parse(R"({"metadata":{"name":"","labels":null},"spec":{"nodeName":5,"hostNetwork":"true",
                     "unschedulable":false},"status":"Running","involvedObject":"Pod","source":{}})"),
      json::parse(R"({"metadata":{"name":"m","labels":{"app":"web","tier":"a\\b"}},"spec":"x",
                     "status":{"phase":null},"type":["Normal"],"reason":{"a":"b"}})"),
      json::parse(R"({"metadata":{"namespace":"ns"},"kind":"Pod","spec":{"nodeName":""}})"),
  };
}

TEST(ObjectFilterTest, TextEvaluationAgreesWithTreeForEveryPlainField) {
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"", "pods"}, {"", "nodes"}, {"", "events"}, {"events.k8s.io", "events"},
      {"", "namespaces"}, {"", "secrets"}};
  for (const auto& [group, resource] : kinds) {
    const KindSpec& k = kind(group, resource);
    ASSERT_FALSE(k.plain_fields.empty()) << resource;
    std::vector<std::string> fields = {"metadata.name", "metadata.namespace"};
    for (const auto& p : k.plain_fields) {
      fields.push_back(p.field);
      // A plain field must be selectable, or requests naming it are refused before reaching it.
      EXPECT_NE(std::find(k.selectable_fields.begin(), k.selectable_fields.end(), p.field),
                k.selectable_fields.end()) << p.field;
    }
    for (const auto& obj : trickyObjects()) {
      for (const auto& field : fields) {
        // Values to compare with: the field's own value (escaped for the selector), and others.
        std::string own = k.field_value && field.rfind("metadata.", 0) != 0 ? k.field_value(obj, field)
                                                                           : std::string();
        for (const std::string& v : {own, std::string("n1"), std::string("true"), std::string()}) {
          if (v.find_first_of(",=!\\") != std::string::npos) continue;  // not expressible unescaped
          for (const char* op : {"=", "!="}) {
            std::string sel = field + op + v;
            expectSameAsTree(filter(k, sel), obj, resource + " " + sel);
          }
        }
      }
    }
  }
}

TEST(ObjectFilterTest, NodeNameSelectorReadsOnlyTheTopLevelMember) {
  const KindSpec& pods = kind("", "pods");
  auto objs = trickyObjects();
  CachedObject tricky("k", 1, objs[0].dump());
  EXPECT_FALSE(filter(pods, "spec.nodeName=n1").matches(tricky));
  EXPECT_TRUE(filter(pods, "spec.nodeName=n2").matches(tricky));
  EXPECT_TRUE(filter(pods, "spec.nodeName!=").matches(tricky));
  CachedObject unassigned("k", 1, objs[4].dump());
  EXPECT_FALSE(filter(pods, "spec.nodeName!=").matches(unassigned));
  CachedObject number("k", 1, objs[2].dump());
  EXPECT_FALSE(filter(pods, "spec.nodeName!=").matches(number));  // not a string: ""
  EXPECT_FALSE(filter(pods, "spec.hostNetwork=true").matches(number));  // "true" is not true
  EXPECT_TRUE(filter(pods, "spec.hostNetwork=true").matches(tricky));
}

TEST(ObjectFilterTest, EscapedValuesAreComparedUnescaped) {
  const KindSpec& pods = kind("", "pods");
  auto objs = trickyObjects();
  CachedObject tricky("k", 1, objs[0].dump());
  EXPECT_TRUE(filter(pods, "status.phase=Run\xc3\xa9ning").matches(tricky));
  const KindSpec& events = kind("", "events");
  EXPECT_TRUE(filter(events, "reason=Sched\tuled").matches(tricky));
  EXPECT_TRUE(filter(events, "source=default-scheduler").matches(tricky));
}

TEST(ObjectFilterTest, LabelSelectorsReadTheLabelsObjectOnly) {
  const KindSpec& pods = kind("", "pods");
  for (const char* sel : {"app=web", "app", "!app", "app in (web,x)", "spec=x", "tier notin (a)",
                          "app!=web"}) {
    auto f = filter(pods, "", sel);
    for (const auto& obj : trickyObjects()) expectSameAsTree(f, obj, sel);
  }
  auto both = filter(pods, "spec.nodeName!=", "app=web");
  for (const auto& obj : trickyObjects()) expectSameAsTree(both, obj, "both");
}

TEST(ObjectFilterTest, FieldsWithoutAPlainPathUseTheParsedObject) {
  const KindSpec& pods = kind("", "pods");
  json obj = json::parse(R"({"metadata":{"name":"p"},"status":{"podIP":"10.0.0.1",
                             "podIPs":[{"ip":"10.0.0.2"}]}})");
  CachedObject c("k", 1, obj.dump());
  EXPECT_TRUE(filter(pods, "status.podIP=10.0.0.2").matches(c));
  EXPECT_FALSE(filter(pods, "status.podIP=10.0.0.1").matches(c));
}

}  // namespace
}  // namespace berth::apiserver
