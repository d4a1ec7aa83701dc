#include "controllers/daemonset_controller.h"

#include <gtest/gtest.h>

#include <set>

#include "controllers/deployment_controller.h"
#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

json dsObj(const std::string& strategy = "RollingUpdate", json max_unavailable = 1) {
  json ds = {{"apiVersion", "apps/v1"},
             {"kind", "DaemonSet"},
             {"metadata", {{"name", "agent"}, {"namespace", "ns"}, {"uid", "ds-uid"}, {"generation", 3},
                           {"resourceVersion", "9"}}},
             {"spec",
              {{"selector", {{"matchLabels", {{"app", "agent"}}}}},
               {"updateStrategy", {{"type", strategy}}},
               {"template",
                {{"metadata", {{"labels", {{"app", "agent"}}}}},
                 {"spec", {{"containers", {{{"name", "c"}, {"image", "agent:1"}}}}}}}}}}};
  if (strategy == "RollingUpdate")
    ds["spec"]["updateStrategy"]["rollingUpdate"] = {{"maxUnavailable", max_unavailable}};
  return ds;
}

std::string hashOf(const json& ds) {
  return DeploymentController::podTemplateHash(ds["spec"]["template"], std::nullopt);
}

json nodeObj(const std::string& name, json labels = json::object(), json taints = nullptr) {
  json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}, {"labels", labels}}}};
  if (!taints.is_null()) n["spec"]["taints"] = taints;
  return n;
}

json podOn(const std::string& name, const std::string& node, const std::string& hash,
           bool ready = true, const std::string& phase = "Running") {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
            {"creationTimestamp", "2026-01-01T00:00:00Z"},
            {"labels", {{"app", "agent"}, {std::string(kControllerRevisionHashLabel), hash}}},
            {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"name", "agent"},
                                  {"uid", "ds-uid"}, {"controller", true}}}}}},
          {"spec", DaemonSetController::podSpecForNode({{"containers", json::array()}}, node)},
          {"status",
           {{"phase", phase},
            {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"},
                             {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}}}};
}

std::string nodeOfCreate(const testing::Action& a) {
  return DaemonSetController::nodeOfPod(a.body);
}

class DaemonSetTest : public WorkloadFixture<DaemonSetController> {
 protected:
  void startController() {
    start([&](client::Client* c, client::InformerFactory* f) {
      DaemonSetController::Config cfg;
      cfg.clock = &clock_;
      return std::make_unique<DaemonSetController>(c, f, cfg);
    });
  }
};

TEST_F(DaemonSetTest, OnePodPerEligibleNode) {
  json ds = dsObj();
  ds["spec"]["template"]["spec"]["nodeSelector"] = {{"role", "worker"}};
  fake_.put(res::daemonSets(), ds);
  json worker = {{"role", "worker"}};
  fake_.put(res::nodes(), nodeObj("plain", worker));
  fake_.put(res::nodes(), nodeObj("tainted", worker, {{{"key", "dedicated"}, {"value", "x"}, {"effect", "NoSchedule"}}}));
  fake_.put(res::nodes(), nodeObj("soft-taint", worker, {{{"key", "k"}, {"effect", "PreferNoSchedule"}}}));
  // Default DaemonSet tolerations cover a not-ready node and a cordoned one.
  fake_.put(res::nodes(), nodeObj("not-ready", worker, {{{"key", "node.kubernetes.io/not-ready"}, {"effect", "NoExecute"}},
                                                        {{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}}}));
  fake_.put(res::nodes(), nodeObj("fargate", {{"role", "worker"}, {"eks.amazonaws.com/compute-type", "fargate"}}));
  fake_.put(res::nodes(), nodeObj("other-role", {{"role", "db"}}));
  startController();
  auto r = ctl_->reconcile("ns/agent");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto creates = actions("create", "v1/pods");
  std::set<std::string> nodes;
  for (const auto& c : creates) nodes.insert(nodeOfCreate(c));
  EXPECT_EQ(nodes, (std::set<std::string>{"plain", "soft-taint", "not-ready"}));
  ASSERT_FALSE(creates.empty());
  const json& pod = creates[0].body;  // nodes are visited in name order: "not-ready" first
  EXPECT_EQ(pod["metadata"]["generateName"], "agent-");
  EXPECT_EQ(pod["metadata"]["labels"]["app"], "agent");
  EXPECT_EQ(pod["metadata"]["labels"][kControllerRevisionHashLabel], hashOf(ds));
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["uid"], "ds-uid");
  EXPECT_FALSE(pod["spec"].contains("nodeName"));  // the scheduler binds it
  EXPECT_EQ(pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0],
            json({{"key", "metadata.name"}, {"operator", "In"}, {"values", {"not-ready"}}}));
  EXPECT_EQ(pod["spec"]["tolerations"].size(), 6u);
  auto st = actions("update/status");
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].body["status"]["desiredNumberScheduled"], 3);
  EXPECT_EQ(st[0].body["status"]["currentNumberScheduled"], 0);
  EXPECT_EQ(st[0].body["status"]["observedGeneration"], 3);

  // Creations not yet observed: no second round.
  fake_.clearActions();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_TRUE(actions("create", "v1/pods").empty());
}

TEST_F(DaemonSetTest, TolerationsInTheTemplateLetPodsOntoTaintedNodes) {
  json ds = dsObj();
  ds["spec"]["template"]["spec"]["tolerations"] = {{{"key", "dedicated"}, {"operator", "Exists"}}};
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("tainted", json::object(),
                                  {{{"key", "dedicated"}, {"value", "x"}, {"effect", "NoSchedule"}}}));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_EQ(actions("create", "v1/pods").size(), 1u);
}

TEST_F(DaemonSetTest, DeletesPodsThatMayNotStayAndCountsStatus) {
  json ds = dsObj();
  std::string h = hashOf(ds);
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("good"));
  fake_.put(res::nodes(), nodeObj("evicting", json::object(), {{{"key", "x"}, {"effect", "NoExecute"}}}));
  // A NoSchedule taint added later does not evict a running daemon pod.
  fake_.put(res::nodes(), nodeObj("cordoned", json::object(), {{{"key", "y"}, {"effect", "NoSchedule"}}}));
  fake_.put(res::nodes(), nodeObj("failed"));
  fake_.put(podsResource(), podOn("on-good", "good", h));
  fake_.put(podsResource(), podOn("on-evicting", "evicting", h));
  fake_.put(podsResource(), podOn("on-cordoned", "cordoned", h));
  fake_.put(podsResource(), podOn("on-failed", "failed", h, false, "Failed"));
  json bound = podOn("on-gone", "gone", h);
  bound["spec"]["nodeName"] = "gone";
  fake_.put(podsResource(), bound);
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  std::map<std::string, json> dels;
  for (const auto& d : actions("delete")) dels[d.key] = d.body;
  EXPECT_EQ(dels.size(), 3u);
  EXPECT_TRUE(dels.count("ns/on-evicting"));
  EXPECT_TRUE(dels.count("ns/on-failed"));
  ASSERT_TRUE(dels.count("ns/on-gone"));
  EXPECT_EQ(dels["ns/on-gone"]["gracePeriodSeconds"], 0);  // no kubelet left to confirm
  EXPECT_FALSE(dels["ns/on-evicting"].contains("gracePeriodSeconds"));
  EXPECT_TRUE(actions("create", "v1/pods").empty());  // deletions first; the failed node's pod comes next
  auto st = actions("update/status");
  ASSERT_EQ(st.size(), 1u);
  const json& s = st[0].body["status"];
  EXPECT_EQ(s["desiredNumberScheduled"], 2);   // good, failed
  EXPECT_EQ(s["currentNumberScheduled"], 1);   // good (the failed pod is on its way out)
  EXPECT_EQ(s["numberMisscheduled"], 2);       // evicting, cordoned
  EXPECT_EQ(s["numberReady"], 1);
  EXPECT_EQ(s["numberAvailable"], 1);
  EXPECT_EQ(s["numberUnavailable"], 1);
  EXPECT_EQ(s["updatedNumberScheduled"], 1);
}

TEST_F(DaemonSetTest, RollingUpdateReplacesAtMostMaxUnavailable) {
  json ds = dsObj("RollingUpdate", 1);
  fake_.put(res::daemonSets(), ds);
  for (const char* n : {"a", "b", "c"}) {
    fake_.put(res::nodes(), nodeObj(n));
    fake_.put(podsResource(), podOn(std::string("old-") + n, n, "oldhash"));
  }
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].key, "ns/old-a");
}

TEST_F(DaemonSetTest, RollingUpdateTakesUnavailableOldPodsFirstWithinBudget) {
  json ds = dsObj("RollingUpdate", "50%");
  fake_.put(res::daemonSets(), ds);
  for (const char* n : {"a", "b", "c", "d"}) fake_.put(res::nodes(), nodeObj(n));
  fake_.put(podsResource(), podOn("old-a", "a", "oldhash"));
  fake_.put(podsResource(), podOn("old-b", "b", "oldhash"));
  fake_.put(podsResource(), podOn("old-c", "c", "oldhash", /*ready=*/false));
  fake_.put(podsResource(), podOn("new-d", "d", hashOf(ds)));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  // 50% of 4 = 2 may be unavailable; c already is: c goes, plus one available old pod.
  std::set<std::string> dels;
  for (const auto& d : actions("delete")) dels.insert(d.key);
  EXPECT_EQ(dels, (std::set<std::string>{"ns/old-c", "ns/old-a"}));
}

json surgeDs(json max_surge) {
  json ds = dsObj("RollingUpdate", 0);
  ds["spec"]["updateStrategy"]["rollingUpdate"]["maxSurge"] = max_surge;
  return ds;
}

// A replacement pod: created after the pods of the fixture's default timestamp.
json later(json pod) {
  pod["metadata"]["creationTimestamp"] = "2026-01-01T00:05:00Z";
  return pod;
}

std::set<std::string> keysOf(const std::vector<testing::Action>& as) {
  std::set<std::string> out;
  for (const auto& a : as) out.insert(a.key);
  return out;
}

std::set<std::string> nodesOfCreates(const std::vector<testing::Action>& as) {
  std::set<std::string> out;
  for (const auto& a : as) out.insert(nodeOfCreate(a));
  return out;
}

TEST_F(DaemonSetTest, SurgeStartsNewPodsBesideTheOldOnesUpToMaxSurge) {
  json ds = surgeDs("50%");
  fake_.put(res::daemonSets(), ds);
  for (const char* n : {"a", "b", "c", "d"}) {
    fake_.put(res::nodes(), nodeObj(n));
    fake_.put(podsResource(), podOn(std::string("old-") + n, n, "oldhash"));
  }
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_TRUE(actions("delete").empty());  // nothing goes before its replacement is available
  auto creates = actions("create", "v1/pods");
  EXPECT_EQ(nodesOfCreates(creates), (std::set<std::string>{"a", "b"}));  // 50% of 4
  ASSERT_FALSE(creates.empty());
  EXPECT_EQ(creates[0].body["metadata"]["labels"][kControllerRevisionHashLabel], hashOf(ds));
}

TEST_F(DaemonSetTest, SurgeDeletesAnOldPodOnceItsReplacementIsAvailable) {
  json ds = surgeDs(1);
  fake_.put(res::daemonSets(), ds);
  for (const char* n : {"a", "b", "c"}) fake_.put(res::nodes(), nodeObj(n));
  fake_.put(podsResource(), podOn("old-a", "a", "oldhash"));
  fake_.put(podsResource(), later(podOn("new-a", "a", hashOf(ds))));
  fake_.put(podsResource(), podOn("old-b", "b", "oldhash"));
  fake_.put(podsResource(), later(podOn("new-b", "b", hashOf(ds), /*ready=*/false)));
  fake_.put(podsResource(), podOn("old-c", "c", "oldhash"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  // a's replacement is available: its old pod goes; b waits for its new pod; both new pods stay.
  EXPECT_EQ(keysOf(actions("delete")), (std::set<std::string>{"ns/old-a"}));
  auto st = actions("update/status");
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].body["status"]["currentNumberScheduled"], 3);
  EXPECT_EQ(st[0].body["status"]["numberAvailable"], 3);  // the old pods still serve
  EXPECT_EQ(st[0].body["status"]["updatedNumberScheduled"], 0);  // status follows the oldest pod
}

TEST_F(DaemonSetTest, SurgeReplacesUnavailableOldPodsBeyondMaxSurge) {
  json ds = surgeDs(1);
  fake_.put(res::daemonSets(), ds);
  for (const char* n : {"b", "c", "d", "e"}) fake_.put(res::nodes(), nodeObj(n));
  fake_.put(podsResource(), podOn("old-b", "b", "oldhash"));
  fake_.put(podsResource(), later(podOn("new-b", "b", hashOf(ds), /*ready=*/false)));  // the surge
  fake_.put(podsResource(), podOn("old-c", "c", "oldhash"));
  fake_.put(podsResource(), podOn("old-d", "d", "oldhash", /*ready=*/false));
  fake_.put(podsResource(), podOn("new-e", "e", hashOf(ds)));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_TRUE(actions("delete").empty());
  // maxSurge is used up by b: c's available old pod waits; d's unavailable one is replaced anyway.
  EXPECT_EQ(nodesOfCreates(actions("create", "v1/pods")), (std::set<std::string>{"d"}));
}

TEST_F(DaemonSetTest, SurgeKeepsTheOldestPodOfEachRevisionOnANode) {
  json ds = surgeDs(1);
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("a"));
  fake_.put(podsResource(), podOn("a-1-old", "a", "oldhash"));
  fake_.put(podsResource(), podOn("a-2-new", "a", hashOf(ds), /*ready=*/false));
  fake_.put(podsResource(), podOn("a-3-new", "a", hashOf(ds)));
  fake_.put(podsResource(), podOn("a-4-old", "a", "oldhash"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_EQ(keysOf(actions("delete")), (std::set<std::string>{"ns/a-3-new", "ns/a-4-old"}));
  EXPECT_TRUE(actions("create", "v1/pods").empty());
}

TEST_F(DaemonSetTest, OnDeleteLeavesOldPodsAlone) {
  json ds = dsObj("OnDelete");
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("a"));
  fake_.put(podsResource(), podOn("old-a", "a", "oldhash"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_TRUE(actions("delete").empty());
  EXPECT_TRUE(actions("create", "v1/pods").empty());
  auto st = actions("update/status");
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].body["status"]["updatedNumberScheduled"], 0);
  EXPECT_EQ(st[0].body["status"]["currentNumberScheduled"], 1);
}

TEST_F(DaemonSetTest, RequiredNodeAffinityIsHonoured) {
  json ds = dsObj();
  ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
      {{"nodeSelectorTerms", {{{"matchExpressions", {{{"key", "zone"}, {"operator", "In"}, {"values", {"z1", "z2"}}}}}}}}};
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("in", {{"zone", "z2"}}));
  fake_.put(res::nodes(), nodeObj("out", {{"zone", "z3"}}));
  fake_.put(res::nodes(), nodeObj("unlabelled"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  auto creates = actions("create", "v1/pods");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(nodeOfCreate(creates[0]), "in");
}

json revisionOf(const json& ds, const std::string& hash, int64_t revision) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ControllerRevision"},
          {"metadata",
           {{"name", "agent-" + hash}, {"namespace", "ns"}, {"uid", "rev-" + hash},
            {"labels", {{"app", "agent"}, {std::string(kControllerRevisionHashLabel), hash}}},
            {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "DaemonSet"}, {"name", "agent"},
                                  {"uid", "ds-uid"}, {"controller", true}}}}}},
          {"data", {{"spec", {{"template", ds["spec"]["template"]}}}}},
          {"revision", revision}};
}

TEST_F(DaemonSetTest, RecordsTheTemplateAsAControllerRevision) {
  json ds = dsObj();
  fake_.put(res::daemonSets(), ds);
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  auto creates = actions("create", "apps/v1/controllerrevisions");
  ASSERT_EQ(creates.size(), 1u);
  const json& rev = creates[0].body;
  EXPECT_EQ(rev["metadata"]["name"], "agent-" + hashOf(ds));
  EXPECT_EQ(rev["metadata"]["labels"]["app"], "agent");  // matches the selector: kubectl finds it
  EXPECT_EQ(rev["metadata"]["labels"][kControllerRevisionHashLabel], hashOf(ds));
  EXPECT_EQ(rev["metadata"]["ownerReferences"][0]["uid"], "ds-uid");
  EXPECT_EQ(rev["revision"], 1);
  EXPECT_EQ(rev["data"]["spec"]["template"]["$patch"], "replace");
  EXPECT_EQ(rev["data"]["spec"]["template"]["spec"], ds["spec"]["template"]["spec"]);
}

TEST_F(DaemonSetTest, ATemplateThatComesBackBecomesTheNewestRevision) {
  json v1 = dsObj(), v2 = dsObj();
  v2["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2";
  fake_.put(res::daemonSets(), v1);  // rolled back to v1's template
  fake_.put(res::controllerRevisions(), revisionOf(v1, hashOf(v1), 1));
  fake_.put(res::controllerRevisions(), revisionOf(v2, hashOf(v2), 2));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  EXPECT_TRUE(actions("create", "apps/v1/controllerrevisions").empty());
  auto patches = actions("patch", "apps/v1/controllerrevisions");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].key, "ns/agent-" + hashOf(v1));
  EXPECT_EQ(patches[0].body["revision"], 3);
}

TEST_F(DaemonSetTest, PrunesRevisionsBeyondTheHistoryLimitThatNoPodRuns) {
  json ds = dsObj();
  ds["spec"]["revisionHistoryLimit"] = 1;
  fake_.put(res::daemonSets(), ds);
  fake_.put(res::nodes(), nodeObj("n1"));
  std::vector<std::string> hashes;
  for (int i = 1; i <= 3; ++i) {
    json old = dsObj();
    old["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:old" + std::to_string(i);
    hashes.push_back(hashOf(old));
    fake_.put(res::controllerRevisions(), revisionOf(old, hashOf(old), i));
  }
  fake_.put(res::controllerRevisions(), revisionOf(ds, hashOf(ds), 4));
  fake_.put(podsResource(), podOn("p1", "n1", hashes[0]));  // still runs the oldest revision
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/agent").error.isOk());
  auto deletes = actions("delete", "apps/v1/controllerrevisions");
  ASSERT_EQ(deletes.size(), 1u);  // of old2 and old3 (old1 is in use), keep one
  EXPECT_EQ(deletes[0].key, "ns/agent-" + hashes[1]);
}

}  // namespace
}  // namespace berth::controllers
