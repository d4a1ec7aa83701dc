#include "controllers/node_lifecycle_controller.h"

#include <gtest/gtest.h>

#include "controllers/replicaset_controller.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using testing::Action;
using testing::FakeClient;
using testing::SettableClock;

json nodeObj(const std::string& name, const std::string& ready, json taints = nullptr) {
  json n = {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata",
             {{"name", name}, {"uid", name + "-uid"}, {"resourceVersion", "5"},
              {"creationTimestamp", "2026-01-01T00:00:00Z"},
              {"labels", {{"topology.kubernetes.io/zone", "local-1a"}}}}},
            {"spec", json::object()},
            {"status",
             {{"conditions",
               {{{"type", "Ready"}, {"status", ready}, {"reason", "KubeletReady"},
                 {"lastHeartbeatTime", "2026-01-01T00:09:00Z"},
                 {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
  if (!taints.is_null()) n["spec"]["taints"] = taints;
  return n;
}

json leaseObj(const std::string& node, const std::string& renew) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}, {"resourceVersion", "6"}}},
          {"spec", {{"holderIdentity", node}, {"renewTime", renew}}}};
}

json podOn(const std::string& name, const std::string& node, json tolerations = json::array()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"resourceVersion", "3"}}},
          {"spec", {{"nodeName", node}, {"tolerations", tolerations}, {"containers", json::array()}}},
          {"status",
           {{"phase", "Running"},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

// ---- pure decisions ----

TEST(NodeConditions, ExpiredNodeGetsUnknownConditionsAsUpstream) {
  SettableClock clock;
  json conds = nodeObj("n1", "True")["status"]["conditions"];
  bool changed = false;
  json out = unknownConditions(conds, "2026-01-01T00:00:00Z", clock.now_, &changed);
  ASSERT_TRUE(changed);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0]["type"], "Ready");
  EXPECT_EQ(out[0]["status"], "Unknown");
  EXPECT_EQ(out[0]["reason"], "NodeStatusUnknown");
  EXPECT_EQ(out[0]["message"], "Kubelet stopped posting node status.");
  EXPECT_EQ(out[0]["lastHeartbeatTime"], "2026-01-01T00:09:00Z");  // kept
  EXPECT_EQ(out[0]["lastTransitionTime"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(out[1]["type"], "MemoryPressure");
  EXPECT_EQ(out[1]["reason"], "NodeStatusNeverUpdated");
  EXPECT_EQ(out[1]["message"], "Kubelet never posted node status.");
  // Already Unknown: nothing changes, so nothing is written again.
  json again = unknownConditions(out, "2026-01-01T00:00:00Z", clock.now_ + std::chrono::hours(1), &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(again, out);
}

TEST(NodeTaints, FollowReadyAndKeepForeignTaints) {
  SettableClock clock;
  json foreign = {{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}};
  json node = nodeObj("n1", "Unknown", json::array({foreign}));
  json t = desiredTaints(node, node["status"]["conditions"], clock.now_);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], foreign);
  EXPECT_EQ(t[1]["key"], kTaintUnreachable);
  EXPECT_EQ(t[1]["effect"], "NoExecute");
  EXPECT_EQ(t[1]["timeAdded"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(t[2]["key"], kTaintUnreachable);
  EXPECT_EQ(t[2]["effect"], "NoSchedule");

  // Unknown -> False: unreachable gives way to not-ready.
  node["spec"]["taints"] = t;
  node["status"]["conditions"][0]["status"] = "False";
  json f = desiredTaints(node, node["status"]["conditions"], clock.now_ + std::chrono::seconds(5));
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1]["key"], kTaintNotReady);
  EXPECT_EQ(f[1]["effect"], "NoExecute");
  EXPECT_EQ(f[2]["key"], kTaintNotReady);
  EXPECT_EQ(f[2]["effect"], "NoSchedule");

  // Recovery removes every managed taint; a cordon adds unschedulable.
  node["spec"]["taints"] = f;
  node["spec"]["unschedulable"] = true;
  node["status"]["conditions"][0]["status"] = "True";
  json r = desiredTaints(node, node["status"]["conditions"], clock.now_);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], foreign);
  EXPECT_EQ(r[1]["key"], kTaintUnschedulable);
  EXPECT_EQ(r[1]["effect"], "NoSchedule");
}

TEST(NodeTaints, ExistingTaintKeepsItsTimeAdded) {
  SettableClock clock;
  json old = {{"key", kTaintUnreachable}, {"effect", "NoExecute"}, {"timeAdded", "2026-01-01T00:01:00Z"}};
  json node = nodeObj("n1", "Unknown", json::array({old}));
  json t = desiredTaints(node, node["status"]["conditions"], clock.now_);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0]["timeAdded"], "2026-01-01T00:01:00Z");
}

TEST(HeartbeatTracker, ProbeMovesOnlyWhenTheHeartbeatChanges) {
  SettableClock clock;
  HeartbeatTracker h;
  TimePoint t0 = clock.now_;
  EXPECT_EQ(h.observe("n1", "a", t0), t0);
  EXPECT_EQ(h.observe("n1", "a", t0 + std::chrono::seconds(30)), t0);
  EXPECT_EQ(h.observe("n1", "b", t0 + std::chrono::seconds(35)), t0 + std::chrono::seconds(35));
  h.forget("n1");
  EXPECT_EQ(h.observe("n1", "b", t0 + std::chrono::seconds(50)), t0 + std::chrono::seconds(50));
}

// ---- the controller on a fake API ----

class NodeLifecycleTest : public ::testing::Test {
 protected:
  void startController() {
    factory_ = std::make_unique<client::InformerFactory>(&fake_);
    NodeLifecycleController::Config c;
    c.clock = &clock_;
    c.grace_period = std::chrono::seconds(40);
    nlc_ = std::make_unique<NodeLifecycleController>(&fake_, factory_.get(), c);
    factory_->start();
    for (auto* i : factory_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
  }
  void TearDown() override {
    nlc_.reset();
    factory_.reset();
  }
  std::vector<Action> actions(const std::string& verb) {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb == verb) out.push_back(a);
    return out;
  }
  SettableClock clock_;
  FakeClient fake_;
  std::unique_ptr<client::InformerFactory> factory_;
  std::unique_ptr<NodeLifecycleController> nlc_;
};

TEST_F(NodeLifecycleTest, FreshNodeIsLeftAloneAndLookedAtWhenGraceRunsOut) {
  fake_.put(nodesResource(), nodeObj("n1", "True"));
  fake_.put(leasesResource(), leaseObj("n1", "2026-01-01T00:09:59.000000Z"));
  startController();
  auto r = nlc_->reconcile("n1");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  EXPECT_TRUE(fake_.actions().empty());
  EXPECT_GE(r.requeue_after, std::chrono::seconds(40));
  EXPECT_LT(r.requeue_after, std::chrono::seconds(41));

  // 39 s later, still within the grace period: the look is rescheduled for the remaining second.
  clock_.now_ += std::chrono::seconds(39);
  r = nlc_->reconcile("n1");
  EXPECT_TRUE(fake_.actions().empty());
  EXPECT_LE(r.requeue_after, std::chrono::milliseconds(1100));
}

TEST_F(NodeLifecycleTest, ExpiredLeaseMarksUnknownTaintsAndPodsNotReady) {
  fake_.put(nodesResource(), nodeObj("n1", "True"));
  fake_.put(leasesResource(), leaseObj("n1", "2026-01-01T00:09:59.000000Z"));
  fake_.put(podsResource(), podOn("p1", "n1"));
  fake_.put(podsResource(), podOn("elsewhere", "n2"));
  startController();
  ASSERT_TRUE(nlc_->reconcile("n1").error.isOk());
  clock_.now_ += std::chrono::seconds(40);
  auto r = nlc_->reconcile("n1");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  EXPECT_EQ(r.requeue_after.count(), 0);

  auto updates = actions("update/status");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].resource, "v1/nodes");
  EXPECT_EQ(updates[0].body["status"]["conditions"][0]["status"], "Unknown");
  EXPECT_EQ(updates[1].resource, "v1/pods");
  EXPECT_EQ(updates[1].key, "ns/p1");
  EXPECT_EQ(updates[1].body["status"]["conditions"][0]["status"], "False");

  auto patches = actions("patch");
  ASSERT_EQ(patches.size(), 1u);
  const json& taints = patches[0].body["spec"]["taints"];
  ASSERT_EQ(taints.size(), 2u);
  EXPECT_EQ(taints[0]["key"], kTaintUnreachable);
  EXPECT_EQ(taints[0]["effect"], "NoExecute");
  EXPECT_EQ(patches[0].body["metadata"]["resourceVersion"], "5");  // compare-and-swap
}

TEST_F(NodeLifecycleTest, RecoveredNodeLosesItsTaints) {
  json taints = json::array({{{"key", kTaintUnreachable}, {"effect", "NoExecute"}, {"timeAdded", "2026-01-01T00:05:00Z"}},
                             {{"key", kTaintUnreachable}, {"effect", "NoSchedule"}}});
  fake_.put(nodesResource(), nodeObj("n1", "True", taints));
  startController();
  ASSERT_TRUE(nlc_->reconcile("n1").error.isOk());
  auto patches = actions("patch");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_TRUE(patches[0].body["spec"]["taints"].is_null());
  EXPECT_TRUE(actions("update/status").empty());
}

}  // namespace
}  // namespace berth::controllers
