#include "controllers/replicaset_controller.h"

#include <gtest/gtest.h>

#include <set>

#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using testing::Action;
using testing::FakeClient;
using testing::SettableClock;

json rsObj(const std::string& name, int replicas, int min_ready = 0) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"generation", 2},
            {"resourceVersion", "7"}}},
          {"spec",
           {{"replicas", replicas},
            {"minReadySeconds", min_ready},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}, {"tier", "fe"}}}, {"annotations", {{"a", "b"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
}

json podObj(const std::string& name, const json& owner_rs, const std::string& created,
            bool on_node = true, const std::string& phase = "Running", bool ready = true,
            const std::string& ready_since = "2026-01-01T00:00:00Z") {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata",
             {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"resourceVersion", "3"},
              {"creationTimestamp", created}, {"labels", {{"app", "web"}, {"tier", "fe"}}}}},
            {"spec", {{"containers", json::array()}}},
            {"status", {{"phase", phase}}}};
  if (on_node) p["spec"]["nodeName"] = "n1";
  p["status"]["conditions"] = {{{"type", "Ready"}, {"status", ready ? "True" : "False"},
                                {"lastTransitionTime", ready_since}}};
  if (!owner_rs.is_null())
    p["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                                         {"name", owner_rs["metadata"]["name"]},
                                         {"uid", owner_rs["metadata"]["uid"]}, {"controller", true},
                                         {"blockOwnerDeletion", true}}};
  return p;
}

class RsTest : public ::testing::Test {
 protected:
  void startController() {
    factory_ = std::make_unique<client::InformerFactory>(&fake_);
    ReplicaSetController::Config c;
    c.clock = &clock_;
    rsc_ = std::make_unique<ReplicaSetController>(&fake_, factory_.get(), c);
    factory_->start();
    for (auto* i : factory_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
  }
  void TearDown() override {
    rsc_.reset();
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
  std::unique_ptr<ReplicaSetController> rsc_;
};

TEST_F(RsTest, CreatesMissingPodsWithOwnerReferencesOnce) {
  fake_.put(replicaSetsResource(), rsObj("web", 3));
  startController();
  auto r = rsc_->reconcile("ns/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 3u);
  for (const auto& c : creates) {
    EXPECT_EQ(c.resource, "v1/pods");
    EXPECT_EQ(c.body["metadata"]["generateName"], "web-");
    EXPECT_EQ(c.body["metadata"]["namespace"], "ns");
    EXPECT_EQ(c.body["metadata"]["labels"]["tier"], "fe");
    EXPECT_EQ(c.body["metadata"]["annotations"]["a"], "b");
    EXPECT_EQ(c.body["spec"]["containers"][0]["image"], "nginx");
    const json& ref = c.body["metadata"]["ownerReferences"][0];
    EXPECT_EQ(ref["apiVersion"], "apps/v1");
    EXPECT_EQ(ref["kind"], "ReplicaSet");
    EXPECT_EQ(ref["name"], "web");
    EXPECT_EQ(ref["uid"], "web-uid");
    EXPECT_EQ(ref["controller"], true);
    EXPECT_EQ(ref["blockOwnerDeletion"], true);
  }
  // The informer has not seen the pods yet: expectations stop a second round of creates.
  fake_.clearActions();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(actions("create").empty());
  EXPECT_FALSE(rsc_->expectations().satisfied("ns/web"));
  for (int i = 0; i < 3; ++i) rsc_->expectations().creationObserved("ns/web");
  EXPECT_TRUE(rsc_->expectations().satisfied("ns/web"));
}

TEST_F(RsTest, ExpectationsExpire) {
  fake_.put(replicaSetsResource(), rsObj("web", 2));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  EXPECT_EQ(actions("create").size(), 2u);
  clock_.now_ += std::chrono::minutes(6);
  fake_.clearActions();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  EXPECT_EQ(actions("create").size(), 2u);
}

TEST_F(RsTest, DeletesSurplusUnscheduledPendingNotReadyNewestFirst) {
  json rs = rsObj("web", 2);
  fake_.put(replicaSetsResource(), rs);
  fake_.put(podsResource(), podObj("old-ready", rs, "2026-01-01T00:00:00Z"));
  fake_.put(podsResource(), podObj("new-ready", rs, "2026-01-01T00:05:00Z"));
  fake_.put(podsResource(), podObj("not-ready", rs, "2026-01-01T00:00:00Z", true, "Running", false));
  fake_.put(podsResource(), podObj("pending", rs, "2026-01-01T00:00:00Z", true, "Pending", false));
  fake_.put(podsResource(), podObj("unscheduled", rs, "2026-01-01T00:00:00Z", false, "Pending", false));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 3u);
  EXPECT_EQ(dels[0].key, "ns/unscheduled");
  EXPECT_EQ(dels[1].key, "ns/pending");
  EXPECT_EQ(dels[2].key, "ns/not-ready");
  EXPECT_EQ(dels[0].body["preconditions"]["uid"], "unscheduled-uid");
  // Deletions not observed yet: nothing more is deleted on the next pass.
  fake_.clearActions();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(actions("delete").empty());
}

TEST_F(RsTest, DeletesNewestAmongEqualPods) {
  json rs = rsObj("web", 1);
  fake_.put(replicaSetsResource(), rs);
  fake_.put(podsResource(), podObj("a", rs, "2026-01-01T00:00:00Z"));
  fake_.put(podsResource(), podObj("b", rs, "2026-01-01T00:05:00Z"));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].key, "ns/b");
}

TEST_F(RsTest, StatusCountsAndRequeuesForMinReadySeconds) {
  json rs = rsObj("web", 3, /*min_ready=*/60);
  fake_.put(replicaSetsResource(), rs);
  fake_.put(podsResource(), podObj("long-ready", rs, "2026-01-01T00:00:00Z"));
  fake_.put(podsResource(), podObj("just-ready", rs, "2026-01-01T00:00:00Z", true, "Running", true,
                                   "2026-01-01T00:09:30Z"));
  json unlabeled = podObj("not-ready", rs, "2026-01-01T00:00:00Z", true, "Running", false);
  unlabeled["metadata"]["labels"].erase("tier");
  fake_.put(podsResource(), unlabeled);
  startController();
  auto r = rsc_->reconcile("ns/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  EXPECT_TRUE(actions("create").empty());
  auto ups = actions("update/status");
  ASSERT_EQ(ups.size(), 1u);
  const json& st = ups[0].body["status"];
  EXPECT_EQ(st["replicas"], 3);
  EXPECT_EQ(st["fullyLabeledReplicas"], 2);
  EXPECT_EQ(st["readyReplicas"], 2);
  EXPECT_EQ(st["availableReplicas"], 1);
  EXPECT_EQ(st["observedGeneration"], 2);
  EXPECT_EQ(ups[0].body["metadata"]["resourceVersion"], "7");  // optimistic concurrency
  // just-ready becomes available 30s from now.
  EXPECT_GE(r.requeue_after.count(), 30000);
  EXPECT_LE(r.requeue_after.count(), 31000);
}

TEST_F(RsTest, NoStatusWriteWhenUnchanged) {
  json rs = rsObj("web", 1);
  rs["status"] = {{"replicas", 1}, {"fullyLabeledReplicas", 1}, {"readyReplicas", 1},
                  {"availableReplicas", 1}, {"observedGeneration", 2}};
  fake_.put(replicaSetsResource(), rs);
  fake_.put(podsResource(), podObj("a", rs, "2026-01-01T00:00:00Z"));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  for (const auto& a : fake_.actions()) EXPECT_EQ(a.verb, "get") << a.verb << " " << a.key;
}

TEST_F(RsTest, TerminatingAndFinishedPodsAreReplaced) {
  json rs = rsObj("web", 2);
  fake_.put(replicaSetsResource(), rs);
  json terminating = podObj("t", rs, "2026-01-01T00:00:00Z");
  terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:09:00Z";
  fake_.put(podsResource(), terminating);
  fake_.put(podsResource(), podObj("f", rs, "2026-01-01T00:00:00Z", true, "Failed", false));
  fake_.put(podsResource(), podObj("ok", rs, "2026-01-01T00:00:00Z"));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  EXPECT_EQ(actions("create").size(), 1u);
  EXPECT_TRUE(actions("delete").empty());
}

TEST_F(RsTest, AdoptsMatchingOrphansAndReleasesNonMatching) {
  json rs = rsObj("web", 2);
  fake_.put(replicaSetsResource(), rs);
  fake_.put(podsResource(), podObj("orphan", nullptr, "2026-01-01T00:00:00Z"));
  json other = podObj("other", nullptr, "2026-01-01T00:00:00Z");
  other["metadata"]["labels"]["app"] = "db";
  fake_.put(podsResource(), other);
  json moved = podObj("moved", rs, "2026-01-01T00:00:00Z");
  moved["metadata"]["labels"]["app"] = "debug";
  fake_.put(podsResource(), moved);
  fake_.put(podsResource(), podObj("mine", rs, "2026-01-01T00:00:00Z"));
  startController();
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  auto patches = actions("patch");
  ASSERT_EQ(patches.size(), 2u);
  std::map<std::string, json> by_key;
  for (const auto& p : patches) by_key[p.key] = p.body;
  ASSERT_TRUE(by_key.count("ns/orphan"));
  EXPECT_EQ(by_key["ns/orphan"][1]["value"][0]["uid"], "web-uid");
  ASSERT_TRUE(by_key.count("ns/moved"));
  EXPECT_EQ(by_key["ns/moved"][1]["op"], "remove");
  // orphan + mine make 2: nothing to create.
  EXPECT_TRUE(actions("create").empty());
}

// A density cluster's namespace holds tens of thousands of pods of other ReplicaSets: a sync
// that scanned the namespace cost O(all pods) and kept the queue seconds behind. A sync reads
// only its own pods and the namespace's orphans, even when the others' labels match.
TEST_F(RsTest, SyncReadsOnlyItsOwnPodsAndTheNamespacesOrphans) {
  json rs = rsObj("web", 3);
  json twin = rsObj("twin", 300);  // same selector, another controller
  fake_.put(replicaSetsResource(), rs);
  fake_.put(replicaSetsResource(), twin);
  for (int i = 0; i < 300; ++i)
    fake_.put(podsResource(), podObj("twin-" + std::to_string(i), twin, "2026-01-01T00:00:00Z"));
  fake_.put(podsResource(), podObj("mine", rs, "2026-01-01T00:00:00Z"));
  fake_.put(podsResource(), podObj("orphan", nullptr, "2026-01-01T00:00:00Z"));
  json not_controller = podObj("not-controller", nullptr, "2026-01-01T00:00:00Z");
  not_controller["metadata"]["ownerReferences"] = {
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "cm"}, {"uid", "cm-uid"}}};
  fake_.put(podsResource(), not_controller);
  json elsewhere = podObj("elsewhere", nullptr, "2026-01-01T00:00:00Z");
  elsewhere["metadata"]["namespace"] = "ns2";
  fake_.put(podsResource(), elsewhere);
  startController();

  std::set<std::string> read;
  for (const auto& p : rsc_->candidatePods(rs)) read.insert(client::objectKey(*p));
  EXPECT_EQ(read, (std::set<std::string>{"ns/mine", "ns/orphan", "ns/not-controller"}));

  // The sync still adopts both orphans (a non-controller ownerReference does not own a pod)
  // and leaves the twin's pods alone: 3 pods, nothing to create.
  ASSERT_TRUE(rsc_->reconcile("ns/web").error.isOk());
  std::set<std::string> patched;
  for (const auto& a : actions("patch")) patched.insert(a.key);
  EXPECT_EQ(patched, (std::set<std::string>{"ns/orphan", "ns/not-controller"}));
  EXPECT_TRUE(actions("create").empty());
}

TEST(ControllerUidIndexTest, ControllerUidOrTheNamespacesOrphanValue) {
  json pod = {{"metadata", {{"name", "p"}, {"namespace", "ns"}}}};
  EXPECT_EQ(controllerUidIndex(pod), std::vector<std::string>{orphanIndexValue("ns")});
  pod["metadata"]["ownerReferences"] = {{{"kind", "ReplicaSet"}, {"uid", "a"}},
                                        {{"kind", "ReplicaSet"}, {"uid", "b"}, {"controller", true}}};
  EXPECT_EQ(controllerUidIndex(pod), std::vector<std::string>{"b"});
  EXPECT_NE(orphanIndexValue("ns"), orphanIndexValue("ns2"));
}

TEST(SelectorTest, MatchLabelsAndExpressions) {
  json sel = {{"matchLabels", {{"app", "web"}}},
              {"matchExpressions",
               {{{"key", "tier"}, {"operator", "In"}, {"values", {"fe", "be"}}},
                {{"key", "canary"}, {"operator", "DoesNotExist"}}}}};
  EXPECT_TRUE(selectorMatches(sel, {{"app", "web"}, {"tier", "fe"}}));
  EXPECT_FALSE(selectorMatches(sel, {{"app", "web"}, {"tier", "db"}}));
  EXPECT_FALSE(selectorMatches(sel, {{"app", "web"}, {"tier", "fe"}, {"canary", "1"}}));
  EXPECT_FALSE(selectorMatches(sel, json::object()));
  EXPECT_FALSE(selectorMatches(nullptr, {{"app", "web"}}));
  EXPECT_TRUE(selectorEmpty(json::object()));
}

}  // namespace
}  // namespace berth::controllers
