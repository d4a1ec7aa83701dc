// Server-side apply and managedFields bookkeeping.
#include <gtest/gtest.h>

#include "apiserver/patch/apply.h"
#include "tests/unit/patch/test_types.h"

namespace berth::apiserver::patch {
namespace {

using nlohmann::json;

constexpr const char* kT1 = "2024-05-01T10:00:00Z";
constexpr const char* kT2 = "2024-05-01T11:00:00Z";

class ApplyTest : public ::testing::Test {
 protected:
  json apply(const json* live, const json& cfg, const std::string& manager, bool force = false,
             const char* now = kT1) {
    auto r = serverSideApply(live, cfg, manager, force, type_.get(), now, "apps/v1");
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? r.value() : json();
  }
  static const json* entry(const json& obj, const std::string& manager, const std::string& op) {
    for (const auto& e : obj["metadata"]["managedFields"]) {
      if (e["manager"] == manager && e["operation"] == op) return &e;
    }
    return nullptr;
  }
  static json deployment(int replicas, const std::string& image) {
    json d = R"({"apiVersion":"apps/v1","kind":"Deployment",
                 "metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},
                 "spec":{"template":{"spec":{"containers":[{"name":"nginx"}]}}}})"_json;
    d["spec"]["replicas"] = replicas;
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    return d;
  }
  schema::TypePtr type_ = testing::deployment();
};

TEST_F(ApplyTest, CreateRecordsApplyEntry) {
  json cfg = deployment(2, "nginx:1.25");
  json out = apply(nullptr, cfg, "kubectl");
  json expect = cfg;
  expect["metadata"].erase("managedFields");
  json got = out;
  got["metadata"].erase("managedFields");
  EXPECT_EQ(got, expect);
  const json* e = entry(out, "kubectl", "Apply");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ((*e)["apiVersion"], "apps/v1");
  EXPECT_EQ((*e)["time"], kT1);
  EXPECT_EQ((*e)["fieldsType"], "FieldsV1");
  EXPECT_EQ((*e)["fieldsV1"], R"({
      "f:metadata":{"f:labels":{"f:app":{}}},
      "f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{
          "k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}})"_json);
}

TEST_F(ApplyTest, ReapplyWithoutAFieldRemovesIt) {
  json live = apply(nullptr, deployment(2, "nginx:1.25"), "kubectl");
  json cfg = deployment(2, "nginx:1.25");
  cfg["metadata"].erase("labels");
  cfg["spec"].erase("replicas");
  json out = apply(&live, cfg, "kubectl", false, kT2);
  EXPECT_FALSE(out["metadata"].contains("labels"));
  EXPECT_FALSE(out["spec"].contains("replicas"));
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
  EXPECT_EQ((*entry(out, "kubectl", "Apply"))["time"], kT2);
}

TEST_F(ApplyTest, RemovingAContainerFromTheConfigRemovesIt) {
  json cfg = deployment(1, "a:1");
  cfg["spec"]["template"]["spec"]["containers"].push_back({{"name", "side"}, {"image", "s:1"}});
  json live = apply(nullptr, cfg, "kubectl");
  ASSERT_EQ(live["spec"]["template"]["spec"]["containers"].size(), 2u);
  json out = apply(&live, deployment(1, "a:1"), "kubectl");
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"],
            R"([{"name":"nginx","image":"a:1"}])"_json);
}

TEST_F(ApplyTest, ReapplyWithoutAFieldOfAListItemRemovesIt) {
  // The container stays (still applied), but the image only this manager set goes: the item's
  // own "." membership does not keep its fields.
  json live = apply(nullptr, deployment(1, "a:1"), "kubectl");
  json cfg = deployment(1, "a:1");
  cfg["spec"]["template"]["spec"]["containers"][0].erase("image");
  json out = apply(&live, cfg, "kubectl", false, kT2);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"], R"([{"name":"nginx"}])"_json);
  // Another manager's field inside the item survives the same reapply.
  json shared = apply(&live, deployment(1, "a:1"), "other");
  out = apply(&shared, cfg, "kubectl", false, kT2);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["image"], "a:1");
}

TEST_F(ApplyTest, NoOpReapplyChangesNothing) {
  json live = apply(nullptr, deployment(2, "nginx:1.25"), "kubectl");
  json out = apply(&live, deployment(2, "nginx:1.25"), "kubectl", false, kT2);
  EXPECT_EQ(out, live);
}

TEST_F(ApplyTest, ReapplyRestoringAFieldItStillOwnsRefreshesTheTime) {
  // The applier's field set is unchanged and the only difference is a field it owns coming
  // back (the live object lost it under managedFields written as they were, as a client may
  // send them): the entry's time still moves, as for any apply that changes the object.
  json live = apply(nullptr, deployment(2, "nginx:1.25"), "kubectl");
  live["spec"].erase("replicas");
  json out = apply(&live, deployment(2, "nginx:1.25"), "kubectl", false, kT2);
  EXPECT_EQ(out["spec"]["replicas"], 2);
  EXPECT_EQ((*entry(out, "kubectl", "Apply"))["time"], kT2);
  json again = apply(&out, deployment(2, "nginx:1.25"), "kubectl", false, "2024-05-01T12:00:00Z");
  EXPECT_EQ((*entry(again, "kubectl", "Apply"))["time"], kT2) << "a no-op reapply keeps the time";
}

TEST_F(ApplyTest, ConflictWithUpdateManager) {
  json created = deployment(2, "nginx:1.25");
  recordUpdate(&created, nullptr, "kubectl-client-side-apply", kT1, "apps/v1", type_.get());
  const json* e = entry(created, "kubectl-client-side-apply", "Update");
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE((*e)["fieldsV1"]["f:spec"].contains("f:replicas"));

  // Same values: no conflict, shared ownership.
  json shared = apply(&created, deployment(2, "nginx:1.25"), "kubectl");
  ASSERT_NE(entry(shared, "kubectl", "Apply"), nullptr);

  auto r = serverSideApply(&shared, deployment(5, "nginx:1.25"), "kubectl", false, type_.get(),
                           kT2, "apps/v1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kConflict);
  EXPECT_EQ(r.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "apps/v1: .spec.replicas");
  ASSERT_EQ(r.status().causes().size(), 1u);
  EXPECT_EQ(r.status().causes()[0].reason, "FieldManagerConflict");
  EXPECT_EQ(r.status().causes()[0].message,
            "conflict with \"kubectl-client-side-apply\" using apps/v1");
  EXPECT_EQ(r.status().causes()[0].field, ".spec.replicas");
}

TEST_F(ApplyTest, ConflictMessageForSeveralFields) {
  json created = deployment(2, "nginx:1.25");
  recordUpdate(&created, nullptr, "editor", kT1, "apps/v1", type_.get());
  auto r = serverSideApply(&created, deployment(5, "nginx:1.26"), "kubectl", false, type_.get(),
                           kT2, "apps/v1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().causes().size(), 2u);
  EXPECT_EQ(r.status().message(),
            "Apply failed with 2 conflicts: conflicts with \"editor\" using apps/v1:\n"
            "- .spec.replicas\n"
            "- .spec.template.spec.containers[name=\"nginx\"].image");
}

TEST_F(ApplyTest, ForceTakesOwnership) {
  json created = deployment(2, "nginx:1.25");
  recordUpdate(&created, nullptr, "kubectl-client-side-apply", kT1, "apps/v1", type_.get());
  auto r = serverSideApplyDetailed(&created, deployment(5, "nginx:1.25"), "kubectl", true,
                                   type_.get(), kT2, "apps/v1");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->object["spec"]["replicas"], 5);
  EXPECT_EQ(r->conflicts.size(), 1u);
  const json* old = entry(r->object, "kubectl-client-side-apply", "Update");
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE((*old)["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_TRUE((*old)["fieldsV1"]["f:spec"].contains("f:template"));
  // Now the former owner's apply of a different value conflicts the other way round.
  auto back = serverSideApply(&r->object, deployment(7, "nginx:1.25"), "other", false,
                              type_.get(), kT2, "apps/v1");
  ASSERT_FALSE(back.isOk());
  EXPECT_EQ(back.status().causes()[0].message, "conflict with \"kubectl\"");
}

TEST_F(ApplyTest, TwoAppliersShareAField) {
  json a_cfg = deployment(3, "nginx:1.25");
  json live = apply(nullptr, a_cfg, "a");
  json b_cfg = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
                   "spec":{"replicas":3}})"_json;
  live = apply(&live, b_cfg, "b");
  ASSERT_NE(entry(live, "a", "Apply"), nullptr);
  ASSERT_NE(entry(live, "b", "Apply"), nullptr);
  // "a" stops applying replicas; "b" still owns it, so the value stays.
  json a_cfg2 = a_cfg;
  a_cfg2["spec"].erase("replicas");
  live = apply(&live, a_cfg2, "a");
  EXPECT_EQ(live["spec"]["replicas"], 3);
  EXPECT_FALSE((*entry(live, "a", "Apply"))["fieldsV1"]["f:spec"].contains("f:replicas"));
  // Now "b" alone owns it and may change it freely.
  b_cfg["spec"]["replicas"] = 6;
  live = apply(&live, b_cfg, "b");
  EXPECT_EQ(live["spec"]["replicas"], 6);
}

TEST_F(ApplyTest, SharedFieldChangeConflictsWithOtherApplier) {
  json live = apply(nullptr, deployment(3, "x:1"), "a");
  live = apply(&live, R"({"spec":{"replicas":3}})"_json, "b");
  auto r = serverSideApply(&live, R"({"spec":{"replicas":4}})"_json, "b", false, type_.get(),
                           kT2, "apps/v1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(), "Apply failed with 1 conflict: conflict with \"a\": .spec.replicas");
}

TEST_F(ApplyTest, OtherManagersItemsSurviveReapply) {
  json live = apply(nullptr, deployment(1, "a:1"), "kubectl");
  json updated = live;
  updated["spec"]["template"]["spec"]["containers"].push_back({{"name", "side"}, {"image", "s:1"}});
  recordUpdate(&updated, &live, "injector", kT2, "apps/v1", type_.get());
  const json* inj = entry(updated, "injector", "Update");
  ASSERT_NE(inj, nullptr);
  EXPECT_EQ((*inj)["fieldsV1"], R"({"f:spec":{"f:template":{"f:spec":{"f:containers":{
      "k:{\"name\":\"side\"}":{".":{},"f:image":{},"f:name":{}}}}}}})"_json);
  json out = apply(&updated, deployment(1, "a:2"), "kubectl", false, kT2);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"],
            R"([{"name":"nginx","image":"a:2"},{"name":"side","image":"s:1"}])"_json);
}

TEST_F(ApplyTest, StatusAndServerMetadataAreNeverApplied) {
  json live = deployment(1, "a:1");
  live["metadata"]["uid"] = "u1";
  live["metadata"]["resourceVersion"] = "7";
  live["status"] = {{"replicas", 1}};
  json cfg = deployment(1, "a:1");
  cfg["status"] = {{"replicas", 9}};
  cfg["metadata"]["uid"] = "other";
  cfg["metadata"]["resourceVersion"] = "1";
  json out = apply(&live, cfg, "kubectl");
  EXPECT_EQ(out["status"]["replicas"], 1);
  EXPECT_EQ(out["metadata"]["uid"], "u1");
  EXPECT_EQ(out["metadata"]["resourceVersion"], "7");
  json fields = (*entry(out, "kubectl", "Apply"))["fieldsV1"];
  EXPECT_FALSE(fields.contains("f:status"));
  EXPECT_FALSE(fields.contains("f:apiVersion"));
  EXPECT_FALSE(fields["f:metadata"].contains("f:name"));
}

TEST_F(ApplyTest, UpdateTakesChangedFieldsFromOthers) {
  json live = apply(nullptr, deployment(2, "a:1"), "kubectl");
  json scaled = live;
  scaled["spec"]["replicas"] = 4;
  recordUpdate(&scaled, &live, "kubectl-scale", kT2, "apps/v1", type_.get());
  const json* scale = entry(scaled, "kubectl-scale", "Update");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ((*scale)["fieldsV1"], R"({"f:spec":{"f:replicas":{}}})"_json);
  EXPECT_EQ((*scale)["time"], kT2);
  EXPECT_FALSE((*entry(scaled, "kubectl", "Apply"))["fieldsV1"]["f:spec"].contains("f:replicas"));
  // Re-applying the old replicas now conflicts with the scaler.
  auto r = serverSideApply(&scaled, deployment(2, "a:1"), "kubectl", false, type_.get(), kT2,
                           "apps/v1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().causes()[0].message, "conflict with \"kubectl-scale\" using apps/v1");
}

TEST_F(ApplyTest, UpdateWithoutChangesLeavesManagedFieldsAlone) {
  json live = deployment(2, "a:1");
  recordUpdate(&live, nullptr, "creator", kT1, "apps/v1", type_.get());
  json same = live;
  recordUpdate(&same, &live, "other", kT2, "apps/v1", type_.get());
  EXPECT_EQ(same, live);
}

TEST_F(ApplyTest, UpdateRemovingAFieldDropsItFromOwners) {
  json live = deployment(2, "a:1");
  recordUpdate(&live, nullptr, "creator", kT1, "apps/v1", type_.get());
  json next = live;
  next["metadata"].erase("labels");
  recordUpdate(&next, &live, "editor", kT2, "apps/v1", type_.get());
  json fields = (*entry(next, "creator", "Update"))["fieldsV1"];
  EXPECT_FALSE(fields["f:metadata"].contains("f:labels"));
  // The editor changed nothing that remains, so it owns nothing and has no entry.
  EXPECT_EQ(entry(next, "editor", "Update"), nullptr);
}

TEST_F(ApplyTest, ResetManagedFieldsWithEmptyEntry) {
  json live = deployment(2, "a:1");
  recordUpdate(&live, nullptr, "creator", kT1, "apps/v1", type_.get());
  json next = live;
  next["metadata"]["managedFields"] = R"([{}])"_json;
  recordUpdate(&next, &live, "x", kT2, "apps/v1", type_.get());
  EXPECT_FALSE(next["metadata"].contains("managedFields"));
}

TEST_F(ApplyTest, ListMapItemWithoutKeyIsRejected) {
  json cfg = deployment(1, "a");
  cfg["spec"]["template"]["spec"]["containers"].push_back({{"image", "nameless"}});
  auto r = serverSideApply(nullptr, cfg, "kubectl", false, type_.get(), kT1, "apps/v1");
  EXPECT_EQ(r.status().code(), Code::kInvalid);
}

TEST_F(ApplyTest, PortsKeyedByPortAndDefaultProtocol) {
  json cfg = R"({"spec":{"template":{"spec":{"containers":[{"name":"c",
      "ports":[{"containerPort":80}]}]}}}})"_json;
  auto set = fieldSetFromObject(cfg, type_.get());
  ASSERT_TRUE(set.isOk());
  auto paths = set->paths();
  EXPECT_NE(std::find(paths.begin(), paths.end(),
                      ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"]"),
            paths.end());
  // A live item carrying the defaulted protocol merges with the config item that omits it.
  json live = R"({"spec":{"template":{"spec":{"containers":[{"name":"c",
      "ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}})"_json;
  json out = apply(&live, cfg, "kubectl");
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["ports"],
            R"([{"containerPort":80,"protocol":"TCP"}])"_json);
}

TEST_F(ApplyTest, FinalizersAreOwnedPerValue) {
  json cfg = R"({"metadata":{"name":"x","finalizers":["a/one","b/two"]}})"_json;
  json live = apply(nullptr, cfg, "kubectl");
  json fields = (*entry(live, "kubectl", "Apply"))["fieldsV1"];
  EXPECT_EQ(fields["f:metadata"]["f:finalizers"], R"({"v:\"a/one\"":{},"v:\"b/two\"":{}})"_json);
  // Another writer adds a finalizer; the applier dropping one of its own leaves the other's.
  json updated = live;
  updated["metadata"]["finalizers"].push_back("c/three");
  recordUpdate(&updated, &live, "controller", kT2, "v1", type_.get());
  json out = apply(&updated, R"({"metadata":{"name":"x","finalizers":["a/one"]}})"_json, "kubectl");
  EXPECT_EQ(out["metadata"]["finalizers"], R"(["a/one","c/three"])"_json);
}

TEST_F(ApplyTest, StatusSubresourceUpdatesOwnStatusOnly) {
  json live = deployment(1, "a:1");
  recordUpdate(&live, nullptr, "creator", kT1, "apps/v1", type_.get());
  json next = live;
  next["status"] = {{"replicas", 1}};
  next["spec"]["replicas"] = 9;  // not the status writer's to own
  recordUpdate(&next, &live, "controller", kT2, "apps/v1", type_.get(), "status");
  const json* e = entry(next, "controller", "Update");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ((*e)["subresource"], "status");
  EXPECT_EQ((*e)["fieldsV1"], R"({"f:status":{"f:replicas":{}}})"_json);
  // The main-resource writer never owns status.
  json main = live;
  main["status"] = {{"replicas", 2}};
  recordUpdate(&main, &live, "editor", kT2, "apps/v1", type_.get());
  EXPECT_EQ(entry(main, "editor", "Update"), nullptr);
}

TEST_F(ApplyTest, ManagedFieldsAreSortedApplyFirst) {
  json live = deployment(2, "a:1");
  recordUpdate(&live, nullptr, "creator", kT1, "apps/v1", type_.get());
  json out = apply(&live, R"({"metadata":{"annotations":{"k":"v"}}})"_json, "zed", false, kT2);
  ASSERT_EQ(out["metadata"]["managedFields"].size(), 2u);
  EXPECT_EQ(out["metadata"]["managedFields"][0]["operation"], "Apply");
  EXPECT_EQ(out["metadata"]["managedFields"][1]["manager"], "creator");
}

TEST_F(ApplyTest, EmptyManagerIsRejected) {
  auto r = serverSideApply(nullptr, deployment(1, "a"), "", false, type_.get(), kT1, "apps/v1");
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
}

TEST_F(ApplyTest, ListMapMergeKeepsLiveOnlyItemsInPlace) {
  json live = R"({"spec":{"template":{"spec":{"containers":[
      {"name":"a","image":"1"},{"name":"b","image":"1"},{"name":"c","image":"1"}]}}}})"_json;
  json cfg = R"({"spec":{"template":{"spec":{"containers":[
      {"name":"c","image":"2"},{"name":"a","image":"2"}]}}}})"_json;
  json out = apply(&live, cfg, "kubectl");
  // Unowned "b" keeps its place ahead of "c"; the configured items follow the config's order.
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"], R"([
      {"name":"b","image":"1"},{"name":"c","image":"2"},{"name":"a","image":"2"}])"_json);
}

TEST_F(ApplyTest, AtomicListsAreReplacedAndOwnedWhole) {
  json live = apply(nullptr, R"({"spec":{"template":{"spec":{"tolerations":[{"key":"a"}],
      "containers":[{"name":"c","command":["x","y"]}]}}}})"_json, "kubectl");
  json fields = (*entry(live, "kubectl", "Apply"))["fieldsV1"]["f:spec"]["f:template"]["f:spec"];
  EXPECT_EQ(fields["f:tolerations"], json::object());
  EXPECT_EQ(fields["f:containers"]["k:{\"name\":\"c\"}"]["f:command"], json::object());
  json out = apply(&live, R"({"spec":{"template":{"spec":{"tolerations":[{"key":"b"}],
      "containers":[{"name":"c","command":["z"]}]}}}})"_json, "kubectl");
  EXPECT_EQ(out["spec"]["template"]["spec"]["tolerations"], R"([{"key":"b"}])"_json);
  EXPECT_EQ(out["spec"]["template"]["spec"]["containers"][0]["command"], R"(["z"])"_json);
}

TEST_F(ApplyTest, UnreadableManagedFieldsAreReset) {
  json live = deployment(1, "a:1");
  live["metadata"]["managedFields"] = R"([{"manager":"x","operation":"Bogus"}])"_json;
  json out = apply(&live, deployment(2, "a:1"), "kubectl");
  EXPECT_EQ(out["spec"]["replicas"], 2);
  ASSERT_EQ(out["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(out["metadata"]["managedFields"][0]["manager"], "kubectl");
}

TEST(FieldSetTest, FieldsV1RoundTrip) {
  json v1 = R"({"f:metadata":{"f:labels":{".":{},"f:app":{}}},
                "f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{".":{},"f:image":{}}},
                          "f:finalizers":{"v:\"x\"":{}}}})"_json;
  auto s = fieldSetFromFieldsV1(v1);
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(fieldSetToFieldsV1(*s), v1);
  EXPECT_EQ(s->paths(), (std::vector<std::string>{
                            ".metadata.labels", ".metadata.labels.app",
                            ".spec.containers[name=\"a\"]", ".spec.containers[name=\"a\"].image",
                            ".spec.finalizers[=\"x\"]"}));
  // Keys written with other spacing or key order name the same item.
  auto spaced = fieldSetFromFieldsV1(
      R"({"f:ports":{"k:{\"protocol\": \"TCP\", \"containerPort\": 80}":{}}})"_json);
  ASSERT_TRUE(spaced.isOk());
  EXPECT_EQ(spaced->paths(), std::vector<std::string>{".ports[containerPort=80,protocol=\"TCP\"]"});
  EXPECT_FALSE(fieldSetFromFieldsV1(R"({"k:{notjson":{}})"_json).isOk());
  EXPECT_FALSE(fieldSetFromFieldsV1(R"({"x:bad":{}})"_json).isOk());
  EXPECT_FALSE(fieldSetFromFieldsV1(R"({"f:a":1})"_json).isOk());
}

TEST(FieldSetTest, UnknownSchemaOwnsEveryKey) {
  auto s = fieldSetFromObject(R"({"spec":{"a":{"b":1},"l":[1,2]}})"_json, nullptr);
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(fieldSetToFieldsV1(*s),
            R"({"f:spec":{".":{},"f:a":{".":{},"f:b":{}},"f:l":{}}})"_json);
}

// A create's ownership (no old object) covers every field of the new one, with list-map items
// by key, set items by value, atomic lists, maps and empty objects as leaves, duplicated keys
// as whole items and a keyless item making its list a leaf; the server-set metadata, status,
// apiVersion and kind are not owned. The expected set was taken from the general comparison
// against an empty object, before the create path got its own walk.
TEST_F(ApplyTest, CreateOwnsEveryFieldOfTheNewObject) {
  json obj = R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web","namespace":"default","uid":"u1","resourceVersion":"5",
                  "labels":{"app":"web","tier":"fe"},"annotations":{},
                  "finalizers":["a/b","c/d"],
                  "ownerReferences":[{"uid":"o1","name":"owner","kind":"X"}]},
      "spec":{"replicas":3,"paused":false,
              "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%"}},
              "template":{"metadata":{"labels":{"app":"web"}},
                "spec":{"containers":[
                          {"name":"app","image":"a:1","command":["/bin/a","-x"],
                           "env":[{"name":"A","value":"1"},{"name":"B"}],
                           "ports":[{"containerPort":80,"protocol":"TCP"},
                                    {"containerPort":81}]},
                          {"name":"dup","image":"d:1"},{"name":"dup","image":"d:2"}],
                        "initContainers":[{"image":"nameless"}],
                        "tolerations":[{"key":"k","operator":"Exists"}],
                        "volumes":[{"name":"v","emptyDir":{}}],
                        "nodeSelector":{"os":"linux"}}}},
      "status":{"replicas":1}})"_json;
  recordUpdate(&obj, nullptr, "creator", kT1, "apps/v1", type_.get());
  const json* e = entry(obj, "creator", "Update");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ((*e)["time"], kT1);
  EXPECT_EQ((*e)["fieldsV1"], json::parse(R"({"f:metadata":{"f:annotations":{},"f:finalizers":{"v:\"a/b\"":{},"v:\"c/d\"":{}},"f:labels":{".":{},"f:app":{},"f:tier":{}},"f:ownerReferences":{"k:{\"uid\":\"o1\"}":{".":{},"f:kind":{},"f:name":{},"f:uid":{}}}},
      "f:spec":{"f:paused":{},"f:replicas":{},"f:strategy":{"f:rollingUpdate":{"f:maxSurge":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:command":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"B\"}":{".":{},"f:name":{}}},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}},"k:{\"containerPort\":81,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}},"k:{\"name\":\"dup\"}":{}},"f:initContainers":{},"f:nodeSelector":{".":{},"f:os":{}},"f:tolerations":{},"f:volumes":{"k:{\"name\":\"v\"}":{".":{},"f:emptyDir":{},"f:name":{}}}}}}})")) << (*e)["fieldsV1"].dump();
}

// Random objects shaped by the Deployment schema, with the awkward cases mixed in: missing and
// duplicated list keys, empty objects and lists, wrong types, unknown fields, metadata that is
// not an object, status. Every create must record exactly what the general comparison against
// an empty object records (the path every update takes).
class RandomObject {
 public:
  explicit RandomObject(uint32_t seed) : state_(seed * 2654435761u + 1) {}
  json of(const schema::Type* t, const schema::Field* f, int depth) {
    if (pick(12) == 0) return awkward();
    if (!t || depth > 8) return scalar();
    switch (t->kind) {
      case schema::TypeKind::kObject: {
        json o = json::object();
        for (const auto& fld : t->fields) {
          if (pick(3) == 0) continue;
          o[fld.name] = of(fld.type.get(), &fld, depth + 1);
        }
        if (pick(10) == 0) o["unknown" + std::to_string(pick(3))] = awkward();
        return o;
      }
      case schema::TypeKind::kMap: {
        json o = json::object();
        for (int i = 0, n = pick(3); i < n; ++i)
          o["k" + std::to_string(pick(4))] = of(t->elem.get(), nullptr, depth + 1);
        return o;
      }
      case schema::TypeKind::kArray: {
        json a = json::array();
        for (int i = 0, n = pick(4); i < n; ++i) {
          json item = of(t->elem.get(), nullptr, depth + 1);
          // Keys drawn from a small range so duplicates happen; sometimes left out.
          if (f && item.is_object())
            for (const auto& k : f->list_map_keys)
              if (pick(6) != 0)
                item[k] =
                    k == "containerPort" ? json(pick(3)) : json("n" + std::to_string(pick(3)));
          a.push_back(std::move(item));
        }
        return a;
      }
      default:
        return scalar();
    }
  }

 private:
  int pick(int n) {
    state_ = state_ * 1103515245u + 12345u;
    return static_cast<int>((state_ >> 16) % static_cast<uint32_t>(n));
  }
  json scalar() {
    switch (pick(4)) {
      case 0:
        return pick(100);
      case 1:
        return pick(2) == 0;
      case 2:
        return nullptr;
      default:
        return "s" + std::to_string(pick(3));
    }
  }
  json awkward() {
    switch (pick(4)) {
      case 0:
        return json::object();
      case 1:
        return json::array();
      case 2:
        return json::array({json::object(), "x"});
      default:
        return scalar();
    }
  }
  uint32_t state_;
};

TEST_F(ApplyTest, CreateRecordsWhatTheGeneralComparisonRecords) {
  int with_fields = 0;
  for (uint32_t seed = 0; seed < 3000; ++seed) {
    RandomObject gen(seed);
    json obj = gen.of(type_.get(), nullptr, 0);
    if (!obj.is_object()) obj = {{"spec", std::move(obj)}};
    if (seed % 7 == 0) obj["metadata"] = seed % 2 ? json("odd") : json::object();
    if (seed % 11 == 0) obj["status"] = {{"replicas", 1}};
    json created = obj, compared = obj;
    recordUpdate(&created, nullptr, "m", kT1, "apps/v1", type_.get());
    const json empty = json::object();
    recordUpdate(&compared, &empty, "m", kT1, "apps/v1", type_.get());
    ASSERT_EQ(created, compared) << "seed " << seed << ": " << obj.dump();
    if (created.contains("metadata") && created["metadata"].is_object() &&
        created["metadata"].contains("managedFields"))
      ++with_fields;
  }
  EXPECT_GT(with_fields, 2000);  // most objects own something: the comparison is not vacuous
}

}  // namespace
}  // namespace berth::apiserver::patch
