// Strategic merge patch: every directive, and the request bodies kubectl apply/edit/rollout send.
#include <gtest/gtest.h>

#include "apiserver/patch/patch.h"
#include "tests/unit/patch/test_types.h"

namespace berth::apiserver::patch {
namespace {

using nlohmann::json;

class SmpTest : public ::testing::Test {
 protected:
  json apply(const json& original, const json& p) {
    auto r = applyStrategicMergePatch(original, p, type_.get());
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? r.value() : json();
  }
  Status fail(const json& original, const json& p) {
    auto r = applyStrategicMergePatch(original, p, type_.get());
    EXPECT_FALSE(r.isOk()) << r.value().dump();
    return r.status();
  }
  json deploy(const json& pod_spec) {
    return {{"spec", {{"template", {{"spec", pod_spec}}}}}};
  }
  schema::TypePtr type_ = testing::deployment();
};

TEST_F(SmpTest, MapsMergeAndNullDeletes) {
  json orig = R"({"metadata":{"labels":{"app":"web","tier":"fe"}},"spec":{"replicas":1}})"_json;
  json out = apply(orig, R"({"metadata":{"labels":{"tier":null,"env":"prod"}},
                             "spec":{"replicas":3,"paused":true}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"labels":{"app":"web","env":"prod"}},
                     "spec":{"replicas":3,"paused":true}})"_json);
}

TEST_F(SmpTest, NullForMissingKeyAndNestedNullsInNewValuesDisappear) {
  json out = apply(json::object(), R"({"spec":{"paused":null,
      "template":{"metadata":{"labels":{"a":"1","b":null}}}}})"_json);
  EXPECT_EQ(out, R"({"spec":{"template":{"metadata":{"labels":{"a":"1"}}}}})"_json);
}

TEST_F(SmpTest, RolloutPauseAndResume) {
  json orig = R"({"spec":{"replicas":2}})"_json;
  json paused = apply(orig, R"({"spec":{"paused":true}})"_json);
  EXPECT_EQ(paused["spec"]["paused"], true);
  json resumed = apply(paused, R"({"spec":{"paused":null}})"_json);
  EXPECT_EQ(resumed, orig);
}

TEST_F(SmpTest, ContainersMergedByName) {
  json orig = deploy(R"({"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]})"_json);
  json out = apply(orig, deploy(R"({"containers":[{"name":"b","image":"b:2"},
                                                  {"name":"c","image":"c:1"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"a","image":"a:1"},{"name":"b","image":"b:2"},
                                          {"name":"c","image":"c:1"}]})"_json));
}

TEST_F(SmpTest, KubectlApplyBodyWithSetElementOrderAndEnvNull) {
  // The body kubectl apply sends after the manifest dropped the env list and bumped the image.
  json orig = deploy(R"({"containers":[{"name":"nginx","image":"nginx:1.25",
                         "env":[{"name":"A","value":"1"}]}]})"_json);
  json p = deploy(R"({"$setElementOrder/containers":[{"name":"nginx"}],
                      "containers":[{"env":null,"image":"nginx:1.26","name":"nginx"}]})"_json);
  EXPECT_EQ(apply(orig, p), deploy(R"({"containers":[{"name":"nginx","image":"nginx:1.26"}]})"_json));
}

TEST_F(SmpTest, EnvEntryRemovedByValueNullKeepsOthers) {
  json orig = deploy(R"({"containers":[{"name":"c","env":[{"name":"A","value":"1"},
                                                           {"name":"B","value":"2"}]}]})"_json);
  json out = apply(orig, deploy(R"({"containers":[{"name":"c","env":[{"name":"A","value":null}]}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"c","env":[{"name":"A"},{"name":"B","value":"2"}]}]})"_json));
}

TEST_F(SmpTest, DeleteDirectiveRemovesElementByKey) {
  json orig = deploy(R"({"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]})"_json);
  json out = apply(orig, deploy(R"({"$setElementOrder/containers":[{"name":"a"},{"name":"c"}],
                                    "containers":[{"$patch":"delete","name":"b"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"a"},{"name":"c"}]})"_json));
}

TEST_F(SmpTest, DeleteDirectiveWithoutMergeKeyIsAnError) {
  Status st = fail(deploy(R"({"containers":[{"name":"a"}]})"_json),
                   deploy(R"({"containers":[{"$patch":"delete","image":"x"}]})"_json));
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_NE(st.message().find("does not contain declared merge key: name"), std::string::npos);
}

TEST_F(SmpTest, ElementWithoutMergeKeyIsAnError) {
  Status st = fail(deploy(R"({"containers":[{"name":"a"}]})"_json),
                   deploy(R"({"containers":[{"image":"x"}]})"_json));
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_NE(st.message().find("merge key"), std::string::npos);
}

TEST_F(SmpTest, ReplaceDirectiveInListReplacesTheList) {
  json orig = deploy(R"({"containers":[{"name":"a","image":"1"},{"name":"b"}]})"_json);
  json out = apply(orig, deploy(R"({"containers":[{"name":"z","image":"9"},{"$patch":"replace"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"z","image":"9"}]})"_json));
}

TEST_F(SmpTest, MergeDirectiveInListIsRejected) {
  Status st = fail(deploy(R"({"containers":[{"name":"a"}]})"_json),
                   deploy(R"({"containers":[{"$patch":"merge"}]})"_json));
  EXPECT_EQ(st.code(), Code::kBadRequest);
  EXPECT_NE(st.message().find("merging lists cannot yet be specified"), std::string::npos);
}

TEST_F(SmpTest, ReplaceDirectiveInMap) {
  json orig = R"({"metadata":{"labels":{"a":"1","b":"2"}}})"_json;
  json out = apply(orig, R"({"metadata":{"labels":{"$patch":"replace","c":"3"}}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"labels":{"c":"3"}}})"_json);
}

TEST_F(SmpTest, DeleteDirectiveInMapClearsIt) {
  json orig = R"({"metadata":{"labels":{"a":"1"},"name":"x"}})"_json;
  json out = apply(orig, R"({"metadata":{"labels":{"$patch":"delete"}}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"labels":{},"name":"x"}})"_json);
  // For a key the original lacks, a deleted map is simply absent.
  EXPECT_EQ(apply(json::object(), R"({"spec":{"$patch":"delete"}})"_json), json::object());
}

TEST_F(SmpTest, UnknownMapDirectiveIsRejected) {
  EXPECT_EQ(fail(R"({"spec":{}})"_json, R"({"spec":{"$patch":"bogus"}})"_json).code(),
            Code::kBadRequest);
}

TEST_F(SmpTest, RetainKeysRollingUpdateToRecreate) {
  json orig = R"({"spec":{"strategy":{"type":"RollingUpdate",
                  "rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}}})"_json;
  json out = apply(orig, R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate",
                                                 "rollingUpdate":null}}})"_json);
  EXPECT_EQ(out, R"({"spec":{"strategy":{"type":"Recreate"}}})"_json);
  // Even without the explicit null the key goes, because it is not retained.
  out = apply(orig, R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}})"_json);
  EXPECT_EQ(out, R"({"spec":{"strategy":{"type":"Recreate"}}})"_json);
}

TEST_F(SmpTest, RetainKeysVolumeSourceSwitch) {
  json orig = deploy(R"({"volumes":[{"name":"v","emptyDir":{}}]})"_json);
  json out = apply(orig, deploy(R"({"volumes":[{"$retainKeys":["hostPath","name"],"name":"v",
                                                "hostPath":{"path":"/data"}}]})"_json));
  EXPECT_EQ(out, deploy(R"({"volumes":[{"name":"v","hostPath":{"path":"/data"}}]})"_json));
}

TEST_F(SmpTest, RetainKeysMustListEveryPatchedKey) {
  Status st = fail(R"({"spec":{"strategy":{"type":"RollingUpdate"}}})"_json,
                   R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate",
                                           "rollingUpdate":{"maxSurge":1}}}})"_json);
  EXPECT_NE(st.message().find("retainKeys"), std::string::npos);
  EXPECT_EQ(fail(R"({})"_json, R"({"spec":{"$retainKeys":"type"}})"_json).code(),
            Code::kBadRequest);
}

TEST_F(SmpTest, TolerationsReplacedAtomically) {
  json orig = deploy(R"({"tolerations":[{"key":"a","operator":"Exists"},{"key":"b"}]})"_json);
  json out = apply(orig, deploy(R"({"tolerations":[{"key":"c","effect":"NoSchedule"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"tolerations":[{"key":"c","effect":"NoSchedule"}]})"_json));
}

TEST_F(SmpTest, CommandIsAtomicEvenWithinMergedContainer) {
  json orig = deploy(R"({"containers":[{"name":"c","command":["sh","-c","x"]}]})"_json);
  json out = apply(orig, deploy(R"({"containers":[{"name":"c","command":["true"]}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"c","command":["true"]}]})"_json));
}

TEST_F(SmpTest, FinalizersUnionWithoutDuplicates) {
  json orig = R"({"metadata":{"finalizers":["a","b"]}})"_json;
  json out = apply(orig, R"({"metadata":{"finalizers":["b","c","c"]}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"finalizers":["a","b","c"]}})"_json);
}

TEST_F(SmpTest, DeleteFromPrimitiveList) {
  json orig = R"({"metadata":{"finalizers":["a","b","c"]}})"_json;
  json out = apply(orig, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","zz"]}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"finalizers":["a","c"]}})"_json);
  // Adding and deleting in one patch, as kubectl's two-way diff sends it. Without
  // $setElementOrder a new item sorts before server-only items (upstream's mergeSortedSlice).
  out = apply(orig, R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],
                                    "finalizers":["d"]}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"finalizers":["d","b","c"]}})"_json);
  out = apply(orig, R"({"metadata":{"$setElementOrder/finalizers":["b","c","d"],
                                    "$deleteFromPrimitiveList/finalizers":["a"],
                                    "finalizers":["d"]}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"finalizers":["b","c","d"]}})"_json);
  // A deletion list for a missing field changes nothing and never shows in the result.
  EXPECT_EQ(apply(json::object(), R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})"_json),
            R"({"metadata":{}})"_json);
}

TEST_F(SmpTest, SetElementOrderReordersMergedList) {
  json orig = deploy(R"({"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]})"_json);
  json out = apply(orig, deploy(R"({"$setElementOrder/containers":[{"name":"c"},{"name":"a"},{"name":"b"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"c"},{"name":"a"},{"name":"b"}]})"_json));
}

TEST_F(SmpTest, SetElementOrderKeepsServerOnlyItemsInLiveOrder) {
  // "s" exists only on the server; it stays in front of "b", which followed it in the live list.
  json orig = deploy(R"({"containers":[{"name":"a"},{"name":"s"},{"name":"b"}]})"_json);
  json out = apply(orig, deploy(R"({"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"n"}],
                                    "containers":[{"name":"n","image":"new"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"s"},{"name":"b"},{"name":"a"},
                                          {"name":"n","image":"new"}]})"_json));
}

TEST_F(SmpTest, SetElementOrderForPrimitives) {
  json orig = R"({"metadata":{"finalizers":["a","b","c"]}})"_json;
  json out = apply(orig, R"({"metadata":{"$setElementOrder/finalizers":["c","b","a"]}})"_json);
  EXPECT_EQ(out, R"({"metadata":{"finalizers":["c","b","a"]}})"_json);
}

TEST_F(SmpTest, SetElementOrderMustAgreeWithPatchList) {
  Status st = fail(deploy(R"({"containers":[{"name":"a"},{"name":"b"}]})"_json),
                   deploy(R"({"$setElementOrder/containers":[{"name":"a"},{"name":"b"}],
                              "containers":[{"name":"b"},{"name":"a"}]})"_json));
  EXPECT_NE(st.message().find("doesn't match $setElementOrder list"), std::string::npos);
}

TEST_F(SmpTest, PatchOrderWinsForMergedPrimitives) {
  json orig = R"({"metadata":{"finalizers":["a","b","c"]}})"_json;
  EXPECT_EQ(apply(orig, R"({"metadata":{"finalizers":["c","a"]}})"_json),
            R"({"metadata":{"finalizers":["b","c","a"]}})"_json);
}

TEST_F(SmpTest, DirectivesNeverReachTheResult) {
  json out = apply(json::object(), R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"a"}],
      "containers":[{"name":"a","env":[{"name":"X","value":"1"},{"$patch":"delete","name":"Y"}]}],
      "volumes":[{"$retainKeys":["name"],"name":"v"}]}}}})"_json);
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"a","env":[{"name":"X","value":"1"}]}],
                            "volumes":[{"name":"v"}]})"_json));
  EXPECT_EQ(out.dump().find('$'), std::string::npos);
}

TEST_F(SmpTest, DirectivesInsideNewListsAreResolved) {
  // A brand-new merge list: delete elements vanish, a replace marker just drops out.
  json out = apply(deploy(json::object()),
                   deploy(R"({"containers":[{"name":"a"},{"$patch":"delete","name":"b"}],
                               "initContainers":[{"name":"i"},{"$patch":"replace"}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"a"}],"initContainers":[{"name":"i"}]})"_json));
}

TEST_F(SmpTest, TopLevelDirectives) {
  json orig = R"({"metadata":{"name":"x"},"spec":{"replicas":1}})"_json;
  EXPECT_EQ(apply(orig, R"({"$patch":"delete"})"_json), json::object());
  EXPECT_EQ(apply(orig, R"({"$patch":"replace","spec":{"replicas":2,"paused":null}})"_json),
            R"({"spec":{"replicas":2}})"_json);
}

TEST_F(SmpTest, OwnerReferencesMergedByUid) {
  json orig = R"({"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]}})"_json;
  EXPECT_EQ(apply(orig, R"({"metadata":{"ownerReferences":[{"$patch":"delete","uid":"1"}]}})"_json),
            R"({"metadata":{"ownerReferences":[{"uid":"2","name":"b"}]}})"_json);
}

TEST_F(SmpTest, RolloutRestartAnnotation) {
  json orig = deploy(R"({"containers":[{"name":"a"}]})"_json);
  json p = R"({"spec":{"template":{"metadata":{"annotations":{
      "kubectl.kubernetes.io/restartedAt":"2024-05-01T10:00:00Z"}}}}})"_json;
  json out = apply(orig, p);
  EXPECT_EQ(out["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
            "2024-05-01T10:00:00Z");
  EXPECT_EQ(out["spec"]["template"]["spec"], orig["spec"]["template"]["spec"]);
}

TEST_F(SmpTest, ContainerPortsMergedByContainerPort) {
  json orig = deploy(R"({"containers":[{"name":"c","ports":[{"containerPort":80},{"containerPort":443}]}]})"_json);
  json out = apply(orig, deploy(R"({"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"}]}]})"_json));
  EXPECT_EQ(out, deploy(R"({"containers":[{"name":"c","ports":[{"containerPort":80,"name":"http"},
                                                                {"containerPort":443}]}]})"_json));
}

TEST_F(SmpTest, UnknownSchemaMergesMapsAndReplacesLists) {
  json orig = R"({"spec":{"a":{"x":1},"list":[1,2]},"extra":[{"name":"a"}]})"_json;
  json p = R"({"spec":{"a":{"y":2},"list":[3]},"extra":[{"name":"b"}]})"_json;
  auto r = applyStrategicMergePatch(orig, p, nullptr);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, R"({"spec":{"a":{"x":1,"y":2},"list":[3]},"extra":[{"name":"b"}]})"_json);
}

TEST_F(SmpTest, TypeChangeReplacesValue) {
  EXPECT_EQ(apply(R"({"spec":{"replicas":{"odd":1}}})"_json, R"({"spec":{"replicas":2}})"_json),
            R"({"spec":{"replicas":2}})"_json);
}

TEST_F(SmpTest, MixedElementKindsInMergedListAreRejected) {
  EXPECT_EQ(fail(R"({"metadata":{"finalizers":["a"]}})"_json,
                 R"({"metadata":{"finalizers":[{"x":1}]}})"_json).code(),
            Code::kBadRequest);
}

TEST_F(SmpTest, NonObjectPatchIsBadRequest) {
  EXPECT_EQ(fail(json::object(), json::array()).code(), Code::kBadRequest);
}

TEST_F(SmpTest, InputsAreNotModified) {
  json orig = deploy(R"({"containers":[{"name":"a","image":"1"}]})"_json);
  json p = deploy(R"({"containers":[{"name":"a","image":"2"}]})"_json);
  json orig_copy = orig, p_copy = p;
  apply(orig, p);
  EXPECT_EQ(orig, orig_copy);
  EXPECT_EQ(p, p_copy);
}

TEST_F(SmpTest, DeepNestingIsRefusedNotCrashed) {
  json p = json::object();
  json* cur = &p;
  for (int i = 0; i < 1000; ++i) cur = &((*cur)["a"] = json::object());
  auto r = applyStrategicMergePatch(json::object(), p, nullptr);
  EXPECT_FALSE(r.isOk());
}

}  // namespace
}  // namespace berth::apiserver::patch
