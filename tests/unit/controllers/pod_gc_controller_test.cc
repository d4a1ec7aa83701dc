// Pod GC: orphaned pods (their node is gone) wait out the quarantine, are confirmed against the
// API server, marked DisruptionTarget and force-deleted; unscheduled terminating pods go at once.
#include "controllers/pod_gc_controller.h"

#include <gtest/gtest.h>

#include "controllers/node_lifecycle_controller.h"
#include "controllers/replicaset_controller.h"
#include "tests/unit/controllers/fake_client.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::Action;

json node(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Node"},
          {"metadata", {{"name", name}, {"resourceVersion", "2"}}}};
}

json pod(const std::string& name, const std::string& node_name, const std::string& phase = "Running") {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"resourceVersion", "3"}}},
            {"spec", json::object()},
            {"status", {{"phase", phase}}}};
  if (!node_name.empty()) p["spec"]["nodeName"] = node_name;
  return p;
}

class PodGCTest : public testing::WorkloadFixture<PodGCController> {
 protected:
  void startController() {
    start([this](client::Client* c, client::InformerFactory* f) {
      PodGCController::Config config;
      config.clock = &clock_;
      return std::make_unique<PodGCController>(c, f, config);
    });
  }
};

TEST_F(PodGCTest, OrphanedPodWaitsOutTheQuarantineThenIsMarkedAndForceDeleted) {
  fake_.put(nodesResource(), node("alive"));
  fake_.put(podsResource(), pod("orphan", "gone"));
  fake_.put(podsResource(), pod("kept", "alive"));
  startController();
  auto r = ctl_->reconcile("ns/orphan");
  ASSERT_TRUE(r.error.isOk());
  EXPECT_TRUE(actions("delete").empty());
  EXPECT_GE(r.requeue_after, std::chrono::seconds(40));
  EXPECT_LT(r.requeue_after, std::chrono::seconds(41));
  clock_.now_ += std::chrono::seconds(39);
  r = ctl_->reconcile("ns/orphan");
  EXPECT_TRUE(actions("delete").empty());
  EXPECT_LE(r.requeue_after, std::chrono::milliseconds(1100));
  clock_.now_ += std::chrono::seconds(1);
  r = ctl_->reconcile("ns/orphan");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto updates = actions("update/status");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].body["status"]["phase"], "Failed");
  const json& c = updates[0].body["status"]["conditions"][0];
  EXPECT_EQ(c["type"], "DisruptionTarget");
  EXPECT_EQ(c["reason"], "DeletionByPodGC");
  auto d = actions("delete");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "ns/orphan");
  EXPECT_EQ(d[0].body["gracePeriodSeconds"], 0);
  EXPECT_EQ(d[0].body["preconditions"]["uid"], "orphan-uid");
  // A pod on a live node is left alone.
  r = ctl_->reconcile("ns/kept");
  EXPECT_EQ(actions("delete").size(), 1u);
  EXPECT_EQ(r.requeue_after.count(), 0);
}

TEST_F(PodGCTest, ANodeTheServerStillHasIsNotGone) {
  fake_.put(podsResource(), pod("done", "gone", "Succeeded"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/done").error.isOk());
  clock_.now_ += std::chrono::seconds(41);
  // The cache has not seen the node (not listed), but the API server has it: nothing happens.
  fake_.put(nodesResource(), node("gone"), /*listed=*/false);
  ASSERT_TRUE(ctl_->reconcile("ns/done").error.isOk());
  EXPECT_EQ(actions("get").size(), 1u);
  EXPECT_TRUE(actions("delete").empty());
  EXPECT_TRUE(actions("update/status").empty());
}

TEST_F(PodGCTest, FinishedOrphanIsMarkedWithoutChangingItsPhase) {
  fake_.put(podsResource(), pod("done", "gone", "Succeeded"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/done").error.isOk());
  clock_.now_ += std::chrono::seconds(41);
  ASSERT_TRUE(ctl_->reconcile("ns/done").error.isOk());
  auto updates = actions("update/status");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].body["status"]["phase"], "Succeeded");
  EXPECT_EQ(actions("delete").size(), 1u);
}

TEST_F(PodGCTest, UnscheduledTerminatingPodIsDeletedAtOnce) {
  json p = pod("pending", "", "Pending");
  p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  fake_.put(podsResource(), p);
  fake_.put(podsResource(), pod("waiting", "", "Pending"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pending").error.isOk());
  ASSERT_TRUE(ctl_->reconcile("ns/waiting").error.isOk());
  auto d = actions("delete");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "ns/pending");
  EXPECT_EQ(d[0].body["gracePeriodSeconds"], 0);
}

}  // namespace
}  // namespace berth::controllers
