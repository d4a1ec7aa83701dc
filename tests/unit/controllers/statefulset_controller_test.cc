#include "controllers/statefulset_controller.h"

#include <gtest/gtest.h>

#include "controllers/daemonset_controller.h"
#include "controllers/deployment_controller.h"
#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

json stsObj(int replicas, const std::string& policy = "OrderedReady", const std::string& image = "web:1") {
  return {{"apiVersion", "apps/v1"},
          {"kind", "StatefulSet"},
          {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"uid", "sts-uid"}, {"generation", 2}}},
          {"spec",
           {{"replicas", replicas},
            {"serviceName", "nginx"},
            {"podManagementPolicy", policy},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}}}}}};
}

std::string revisionName(const json& sts) {
  return "web-" + DeploymentController::podTemplateHash(sts["spec"]["template"], std::nullopt);
}

// A pod of "web" at `ordinal`, running `revision`.
json podAt(int ordinal, const std::string& revision, bool ready = true,
           const std::string& phase = "Running") {
  std::string name = "web-" + std::to_string(ordinal);
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
            {"labels", {{"app", "web"}, {std::string(kControllerRevisionHashLabel), revision}}},
            {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"}, {"name", "web"},
                                  {"uid", "sts-uid"}, {"controller", true}}}}}},
          {"status",
           {{"phase", phase},
            {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"},
                             {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
}

// The ControllerRevision an older template left behind.
json revisionObj(const json& sts, int number) {
  std::string name = revisionName(sts);
  json tmpl = sts["spec"]["template"];
  tmpl["$patch"] = "replace";
  return {{"apiVersion", "apps/v1"},
          {"kind", "ControllerRevision"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                        {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"},
                                              {"name", "web"}, {"uid", "sts-uid"}, {"controller", true}}}}}},
          {"data", {{"spec", {{"template", tmpl}}}}},
          {"revision", number}};
}

class StatefulSetTest : public WorkloadFixture<StatefulSetController> {
 protected:
  void reconcile(const json& sts, const std::vector<json>& pods, const std::vector<json>& revisions = {}) {
    fake_.put(res::statefulSets(), sts);
    for (const auto& p : pods) fake_.put(podsResource(), p);
    for (const auto& r : revisions) fake_.put(res::controllerRevisions(), r);
    start([&](client::Client* c, client::InformerFactory* f) {
      StatefulSetController::Config cfg;
      cfg.clock = &clock_;
      return std::make_unique<StatefulSetController>(c, f, cfg);
    });
    auto r = ctl_->reconcile("ns/web");
    ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  }
  std::vector<std::string> created() {
    std::vector<std::string> out;
    for (const auto& a : actions("create", "v1/pods")) out.push_back(a.body["metadata"]["name"]);
    return out;
  }
  std::vector<std::string> deleted() {
    std::vector<std::string> out;
    for (const auto& a : actions("delete", "v1/pods")) out.push_back(a.key);
    return out;
  }
  json status() {
    auto st = actions("update/status");
    return st.empty() ? json() : st.back().body["status"];
  }
};

TEST(StatefulSetOrdinal, ParsesOnlyThisSetsNames) {
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "web-0"), 0);
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "web-12"), 12);
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "web-"), -1);
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "web-01"), -1);
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "webx-1"), -1);
  EXPECT_EQ(StatefulSetController::ordinalOf("web", "web-a"), -1);
}

TEST_F(StatefulSetTest, OrderedReadyCreatesTheFirstPodWithItsIdentity) {
  json sts = stsObj(3);
  reconcile(sts, {});
  ASSERT_EQ(created(), std::vector<std::string>{"web-0"});
  json pod = actions("create", "v1/pods")[0].body;
  EXPECT_EQ(pod["metadata"]["labels"]["app"], "web");
  EXPECT_EQ(pod["metadata"]["labels"][kStatefulSetPodNameLabel], "web-0");
  EXPECT_EQ(pod["metadata"]["labels"][kPodIndexLabel], "0");
  EXPECT_EQ(pod["metadata"]["labels"][kControllerRevisionHashLabel], revisionName(sts));
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], "sts-uid");
  EXPECT_EQ(pod["spec"]["hostname"], "web-0");
  EXPECT_EQ(pod["spec"]["subdomain"], "nginx");
  // The revision for the template is recorded for rollout history.
  auto revs = actions("create", "apps/v1/controllerrevisions");
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].body["metadata"]["name"], revisionName(sts));
  EXPECT_EQ(revs[0].body["revision"], 1);
  EXPECT_EQ(status()["updateRevision"], revisionName(sts));
  EXPECT_EQ(status()["currentRevision"], revisionName(sts));
  EXPECT_EQ(status()["observedGeneration"], 2);
}

TEST_F(StatefulSetTest, OrderedReadyWaitsForThePreviousPodToBeReady) {
  json sts = stsObj(3);
  reconcile(sts, {podAt(0, revisionName(sts), false)});
  EXPECT_TRUE(created().empty());
  EXPECT_EQ(status()["replicas"], 1);
  EXPECT_EQ(status()["readyReplicas"], 0);
}

TEST_F(StatefulSetTest, OrderedReadyCreatesTheNextOrdinalOnceReady) {
  json sts = stsObj(3);
  reconcile(sts, {podAt(0, revisionName(sts))});
  EXPECT_EQ(created(), std::vector<std::string>{"web-1"});
}

TEST_F(StatefulSetTest, OrdinalsStartWhereTheSpecSays) {
  json sts = stsObj(2);
  sts["spec"]["ordinals"] = {{"start", 5}};
  reconcile(sts, {podAt(5, revisionName(sts))});
  EXPECT_EQ(created(), std::vector<std::string>{"web-6"});
}

TEST_F(StatefulSetTest, ParallelCreatesEveryMissingPod) {
  json sts = stsObj(3, "Parallel");
  reconcile(sts, {podAt(1, revisionName(sts), false)});
  EXPECT_EQ(created(), (std::vector<std::string>{"web-0", "web-2"}));
}

TEST_F(StatefulSetTest, ScaleDownRemovesTheHighestOrdinalFirst) {
  json sts = stsObj(1);
  std::string rev = revisionName(sts);
  reconcile(sts, {podAt(0, rev), podAt(1, rev), podAt(2, rev)});
  EXPECT_EQ(deleted(), std::vector<std::string>{"ns/web-2"});
}

TEST_F(StatefulSetTest, ParallelScaleDownRemovesAllSurplusPods) {
  json sts = stsObj(1, "Parallel");
  std::string rev = revisionName(sts);
  reconcile(sts, {podAt(0, rev), podAt(1, rev), podAt(2, rev)});
  EXPECT_EQ(deleted(), (std::vector<std::string>{"ns/web-2", "ns/web-1"}));
}

TEST_F(StatefulSetTest, FailedPodIsDeletedToBeRecreated) {
  json sts = stsObj(2);
  std::string rev = revisionName(sts);
  reconcile(sts, {podAt(0, rev, false, "Failed"), podAt(1, rev)});
  EXPECT_EQ(deleted(), std::vector<std::string>{"ns/web-0"});
  EXPECT_TRUE(created().empty());
}

TEST_F(StatefulSetTest, RollingUpdateReplacesTheHighestOrdinalFirst) {
  json old_sts = stsObj(3);
  json sts = stsObj(3, "OrderedReady", "web:2");
  std::string old_rev = revisionName(old_sts);
  sts["status"] = {{"currentRevision", old_rev}};
  reconcile(sts, {podAt(0, old_rev), podAt(1, old_rev), podAt(2, old_rev)}, {revisionObj(old_sts, 1)});
  EXPECT_EQ(deleted(), std::vector<std::string>{"ns/web-2"});
  auto revs = actions("create", "apps/v1/controllerrevisions");
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].body["revision"], 2);
  EXPECT_EQ(status()["currentRevision"], old_rev);
  EXPECT_EQ(status()["updateRevision"], revisionName(sts));
  EXPECT_EQ(status()["currentReplicas"], 3);
  EXPECT_EQ(status()["updatedReplicas"], 0);
}

TEST_F(StatefulSetTest, RollingUpdateWaitsForTheReplacedPodToBeReady) {
  json old_sts = stsObj(3);
  json sts = stsObj(3, "OrderedReady", "web:2");
  std::string old_rev = revisionName(old_sts);
  sts["status"] = {{"currentRevision", old_rev}};
  reconcile(sts, {podAt(0, old_rev), podAt(1, old_rev), podAt(2, revisionName(sts), false)},
            {revisionObj(old_sts, 1)});
  EXPECT_TRUE(deleted().empty());
}

TEST_F(StatefulSetTest, PartitionKeepsLowerOrdinalsOnTheCurrentRevision) {
  json old_sts = stsObj(3);
  json sts = stsObj(3, "OrderedReady", "web:2");
  sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 1;
  std::string old_rev = revisionName(old_sts);
  sts["status"] = {{"currentRevision", old_rev}};
  std::string new_rev = revisionName(sts);
  reconcile(sts, {podAt(0, old_rev), podAt(1, new_rev), podAt(2, new_rev)}, {revisionObj(old_sts, 1)});
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(status()["currentRevision"], old_rev);  // not every pod is updated
  EXPECT_EQ(status()["updatedReplicas"], 2);
}

TEST_F(StatefulSetTest, PodBelowThePartitionIsRecreatedFromTheCurrentRevision) {
  json old_sts = stsObj(2);
  json sts = stsObj(2, "OrderedReady", "web:2");
  sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 1;
  std::string old_rev = revisionName(old_sts);
  sts["status"] = {{"currentRevision", old_rev}};
  reconcile(sts, {podAt(1, revisionName(sts))}, {revisionObj(old_sts, 1)});
  ASSERT_EQ(created(), std::vector<std::string>{"web-0"});
  json pod = actions("create", "v1/pods")[0].body;
  EXPECT_EQ(pod["metadata"]["labels"][kControllerRevisionHashLabel], old_rev);
  EXPECT_EQ(pod["spec"]["containers"][0]["image"], "web:1");
}

TEST_F(StatefulSetTest, CompletedRollingUpdateMovesTheCurrentRevision) {
  json old_sts = stsObj(2);
  json sts = stsObj(2, "OrderedReady", "web:2");
  sts["status"] = {{"currentRevision", revisionName(old_sts)}};
  std::string new_rev = revisionName(sts);
  reconcile(sts, {podAt(0, new_rev), podAt(1, new_rev)}, {revisionObj(old_sts, 1)});
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(status()["currentRevision"], new_rev);
  EXPECT_EQ(status()["currentReplicas"], 2);
  EXPECT_EQ(status()["readyReplicas"], 2);
}

TEST_F(StatefulSetTest, OnDeleteLeavesOldPodsAlone) {
  json old_sts = stsObj(2);
  json sts = stsObj(2, "OrderedReady", "web:2");
  sts["spec"]["updateStrategy"] = {{"type", "OnDelete"}};
  std::string old_rev = revisionName(old_sts);
  reconcile(sts, {podAt(0, old_rev), podAt(1, old_rev)}, {revisionObj(old_sts, 1)});
  EXPECT_TRUE(deleted().empty());
  EXPECT_TRUE(created().empty());
}

}  // namespace
}  // namespace berth::controllers
