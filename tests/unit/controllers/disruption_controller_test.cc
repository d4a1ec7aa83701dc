#include "controllers/disruption_controller.h"

#include <gtest/gtest.h>

#include "client/event_recorder.h"
#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using client::ObjectPtr;
using testing::FakeClient;

TimePoint at(const char* s) {
  TimePoint t;
  EXPECT_TRUE(parseRfc3339(s, &t));
  return t;
}

json pdbObj(json min_available, json max_unavailable = nullptr) {
  json p = {{"apiVersion", "policy/v1"},
            {"kind", "PodDisruptionBudget"},
            {"metadata", {{"name", "b"}, {"namespace", "ns"}, {"generation", 3}, {"resourceVersion", "4"}}},
            {"spec", {{"selector", {{"matchLabels", {{"app", "web"}}}}}}}};
  if (!min_available.is_null()) p["spec"]["minAvailable"] = min_available;
  if (!max_unavailable.is_null()) p["spec"]["maxUnavailable"] = max_unavailable;
  return p;
}

ObjectPtr podObj(const std::string& name, bool ready, const std::string& rs = "rs1",
                 bool deleting = false) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", {{"app", "web"}}}}},
            {"status", {{"phase", "Running"},
                        {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
  if (!rs.empty())
    p["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", rs},
                                         {"uid", rs + "-uid"}, {"controller", true}}};
  if (deleting) p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  return std::make_shared<const json>(p);
}

ScaleFinder scaleIs(int64_t n) {
  return [n](const json&, const std::string&) -> Result<int64_t> { return n; };
}

TEST(ScaledValue, IntsAndPercentsAsUpstream) {
  EXPECT_EQ(*scaledValue(json(2), 10, true), 2);
  EXPECT_EQ(*scaledValue(json("50%"), 5, true), 3);
  EXPECT_EQ(*scaledValue(json("50%"), 5, false), 2);
  EXPECT_EQ(*scaledValue(json("100%"), 4, true), 4);
  EXPECT_FALSE(scaledValue(json("abc"), 4, true).isOk());
  EXPECT_FALSE(scaledValue(json("5"), 4, true).isOk());
}

TEST(PdbCounts, MinAvailableInteger) {
  std::vector<ObjectPtr> pods = {podObj("a", true), podObj("b", true), podObj("c", false),
                                 podObj("d", true, "rs1", true)};
  auto c = computePdbCounts(pdbObj(2), pods, scaleIs(99), at("2026-01-01T00:10:00Z"));
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->expected, 4);  // matching pods, not the controller's scale
  EXPECT_EQ(c->desired_healthy, 2);
  EXPECT_EQ(c->current_healthy, 2);  // the deleting pod does not count
  EXPECT_EQ(c->allowed, 0);
}

TEST(PdbCounts, MaxUnavailableUsesTheControllersScale) {
  std::vector<ObjectPtr> pods = {podObj("a", true), podObj("b", true), podObj("c", true)};
  auto c = computePdbCounts(pdbObj(nullptr, 1), pods, scaleIs(3), at("2026-01-01T00:10:00Z"));
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->expected, 3);
  EXPECT_EQ(c->desired_healthy, 2);
  EXPECT_EQ(c->allowed, 1);
  // Percentages round up: 50% of 3 unavailable -> 2, so 1 must stay healthy.
  auto p = computePdbCounts(pdbObj(nullptr, "50%"), pods, scaleIs(3), at("2026-01-01T00:10:00Z"));
  EXPECT_EQ(p->desired_healthy, 1);
  EXPECT_EQ(p->allowed, 2);
  // minAvailable 50% of 3 rounds up to 2.
  auto m = computePdbCounts(pdbObj("50%"), pods, scaleIs(3), at("2026-01-01T00:10:00Z"));
  EXPECT_EQ(m->desired_healthy, 2);
  EXPECT_EQ(m->allowed, 1);
}

TEST(PdbCounts, PodsWithoutAControllerAreLeftOutOfAScaleBasedBudget) {
  std::vector<ObjectPtr> pods = {podObj("a", true, ""), podObj("b", true), podObj("c", true)};
  auto c = computePdbCounts(pdbObj(nullptr, 1), pods, scaleIs(2), at("2026-01-01T00:10:00Z"));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->expected, 2);  // rs1's scale only
  EXPECT_EQ(c->unmanaged_pods, std::vector<std::string>{"a"});
  EXPECT_EQ(c->current_healthy, 3);  // ... but the unmanaged pod is still healthy
  // An integer minAvailable counts pods, so there is nothing unmanaged to report.
  auto m = computePdbCounts(pdbObj(1), pods, scaleIs(2), at("2026-01-01T00:10:00Z"));
  EXPECT_TRUE(m->unmanaged_pods.empty());
}

TEST(PdbCounts, APodWhoseControllerIsGoneFailsTheBudget) {
  std::vector<ObjectPtr> pods = {podObj("a", true)};
  ScaleFinder gone = [](const json&, const std::string&) -> Result<int64_t> {
    return notFound("replicaset \"ns/rs1\" not found");
  };
  auto c = computePdbCounts(pdbObj(nullptr, 1), pods, gone, at("2026-01-01T00:10:00Z"));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().message(), "found no controllers for pod \"a\"");
  json status = pdbStatus(pdbObj(nullptr, 1), c, at("2026-01-01T00:10:00Z"));
  EXPECT_EQ(status["disruptionsAllowed"], 0);
  EXPECT_EQ(status["conditions"][0]["reason"], "SyncFailed");
  EXPECT_EQ(status["conditions"][0]["message"], "found no controllers for pod \"a\"");
}

TEST(LabelSelectorText, AsGoPrintsIt) {
  json sel = {{"matchLabels", {{"tier", "db"}, {"app", "web"}}},
              {"matchExpressions", {{{"key", "env"}, {"operator", "In"}, {"values", {"a", "b"}}}}}};
  EXPECT_EQ(labelSelectorText(sel),
            "&LabelSelector{MatchLabels:map[string]string{app: web,tier: db,},MatchExpressions:"
            "[]LabelSelectorRequirement{LabelSelectorRequirement{Key:env,Operator:In,Values:[a b],},},}");
}

TEST(PdbCounts, NoExpectedPodsAllowsNothing) {
  auto c = computePdbCounts(pdbObj(0), {}, scaleIs(0), at("2026-01-01T00:10:00Z"));
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->allowed, 0);
}

TEST(PdbCounts, DisruptedPodsAreNotHealthyUntilTheyExpire) {
  json pdb = pdbObj(1);
  pdb["status"]["disruptedPods"] = {{"a", "2026-01-01T00:09:00Z"}, {"gone", "2026-01-01T00:09:00Z"}};
  std::vector<ObjectPtr> pods = {podObj("a", true), podObj("b", true), podObj("c", true)};
  auto c = computePdbCounts(pdb, pods, scaleIs(3), at("2026-01-01T00:10:00Z"));
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->current_healthy, 2);
  EXPECT_EQ(c->allowed, 1);
  EXPECT_EQ(c->disrupted_pods, json({{"a", "2026-01-01T00:09:00Z"}}));  // "gone" is gone
  EXPECT_EQ(c->recheck, std::chrono::seconds(60) + std::chrono::milliseconds(10));
  // After two minutes the entry is dropped and the pod counts again.
  auto later = computePdbCounts(pdb, pods, scaleIs(3), at("2026-01-01T00:11:01Z"));
  EXPECT_EQ(later->current_healthy, 3);
  EXPECT_TRUE(later->disrupted_pods.empty());
}

TEST(PdbStatus, ConditionAndObservedGeneration) {
  std::vector<ObjectPtr> pods = {podObj("a", true), podObj("b", true)};
  json pdb = pdbObj(1);
  auto c = computePdbCounts(pdb, pods, scaleIs(2), at("2026-01-01T00:10:00Z"));
  json s = pdbStatus(pdb, c, at("2026-01-01T00:10:00Z"));
  EXPECT_EQ(s["observedGeneration"], 3);
  EXPECT_EQ(s["expectedPods"], 2);
  EXPECT_EQ(s["desiredHealthy"], 1);
  EXPECT_EQ(s["currentHealthy"], 2);
  EXPECT_EQ(s["disruptionsAllowed"], 1);
  ASSERT_EQ(s["conditions"].size(), 1u);
  EXPECT_EQ(s["conditions"][0]["type"], "DisruptionAllowed");
  EXPECT_EQ(s["conditions"][0]["status"], "True");
  EXPECT_EQ(s["conditions"][0]["reason"], "SufficientPods");
  // Same outcome later: the transition time stays, so the status does not change.
  pdb["status"] = s;
  EXPECT_EQ(pdbStatus(pdb, c, at("2026-01-01T00:20:00Z")), s);
  // One pod fewer: InsufficientPods, with a new transition time.
  auto fewer = computePdbCounts(pdb, {podObj("a", true)}, scaleIs(2), at("2026-01-01T00:20:00Z"));
  json s2 = pdbStatus(pdb, fewer, at("2026-01-01T00:20:00Z"));
  EXPECT_EQ(s2["conditions"][0]["reason"], "InsufficientPods");
  EXPECT_EQ(s2["conditions"][0]["lastTransitionTime"], "2026-01-01T00:20:00Z");
}

TEST(DisruptionController, DeploymentPodsCountTheDeploymentOnce) {
  FakeClient fake;
  json dep = {{"apiVersion", "apps/v1"}, {"kind", "Deployment"},
              {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"uid", "dep-uid"}}},
              {"spec", {{"replicas", 4}}}};
  auto rs = [](const std::string& name, int replicas) {
    return json{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                              {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"},
                                                    {"name", "web"}, {"uid", "dep-uid"}, {"controller", true}}}}}},
                {"spec", {{"replicas", replicas}}}};
  };
  fake.put(deploymentsResource(), dep);
  fake.put(replicaSetsResource(), rs("old", 1));
  fake.put(replicaSetsResource(), rs("new", 3));
  fake.put(pdbsResource(), pdbObj(nullptr, 1));
  for (auto [name, owner] : {std::pair{"a", "old"}, {"b", "new"}, {"c", "new"}, {"d", "new"}})
    fake.put(podsResource(), *podObj(name, true, owner));
  client::InformerFactory factory(&fake);
  DisruptionController dc(&fake, &factory, {});
  factory.start();
  for (auto* i : factory.informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  fake.clearActions();
  auto r = dc.reconcile("ns/b");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto acts = fake.actions();
  ASSERT_EQ(acts.size(), 1u);
  EXPECT_EQ(acts[0].verb, "update/status");
  EXPECT_EQ(acts[0].body["status"]["expectedPods"], 4);
  EXPECT_EQ(acts[0].body["status"]["desiredHealthy"], 3);
  EXPECT_EQ(acts[0].body["status"]["disruptionsAllowed"], 1);
  factory.stop();
}

// Runs the controller over `fake` and returns its actions for one reconcile of ns/b.
class DisruptionControllerTest : public ::testing::Test {
 protected:
  std::vector<testing::Action> reconcileOnce() {
    client::InformerFactory factory(&fake_);
    DisruptionController dc(&fake_, &factory, {.recorder = &recorder_});
    factory.start();
    for (auto* i : factory.informers()) EXPECT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
    auto r = dc.reconcile("ns/b");
    EXPECT_TRUE(r.error.isOk()) << r.error.toString();
    factory.stop();
    recorder_.flush();
    return fake_.actions();
  }
  static json statusOf(const std::vector<testing::Action>& acts) {
    for (const auto& a : acts)
      if (a.verb == "update/status") return a.body["status"];
    return nullptr;
  }
  static std::vector<json> events(const std::vector<testing::Action>& acts) {
    std::vector<json> out;
    for (const auto& a : acts)
      if (a.verb == "create" && a.resource == "v1/events") out.push_back(a.body);
    return out;
  }
  ObjectPtr podOwnedBy(const std::string& name, const std::string& kind, const std::string& api) {
    json p = *podObj(name, true, "");
    p["metadata"]["ownerReferences"] = {{{"apiVersion", api}, {"kind", kind}, {"name", "db"},
                                         {"uid", "db-uid"}, {"controller", true}}};
    return std::make_shared<const json>(p);
  }

  FakeClient fake_;
  client::EventRecorder recorder_{&fake_, "controllermanager", ""};
};

TEST_F(DisruptionControllerTest, StatefulSetPodsCountTheStatefulSetsReplicas) {
  fake_.put(res::statefulSets(), {{"apiVersion", "apps/v1"}, {"kind", "StatefulSet"},
                                  {"metadata", {{"name", "db"}, {"namespace", "ns"}, {"uid", "db-uid"}}},
                                  {"spec", {{"replicas", 5}}}});
  fake_.put(pdbsResource(), pdbObj("60%"));
  for (const char* n : {"db-0", "db-1", "db-2", "db-3"}) fake_.put(podsResource(), *podOwnedBy(n, "StatefulSet", "apps/v1"));
  json status = statusOf(reconcileOnce());
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["expectedPods"], 5);  // the scale, not the 4 pods that exist
  EXPECT_EQ(status["desiredHealthy"], 3);  // 60% of 5
  EXPECT_EQ(status["currentHealthy"], 4);
  EXPECT_EQ(status["disruptionsAllowed"], 1);
  EXPECT_EQ(status["conditions"][0]["reason"], "SufficientPods");
}

TEST_F(DisruptionControllerTest, ReplicationControllerPodsCountItsReplicas) {
  fake_.put(replicationControllersResource(),
            {{"apiVersion", "v1"},
             {"kind", "ReplicationController"},
             {"metadata", {{"name", "db"}, {"namespace", "ns"}, {"uid", "db-uid"}}},
             {"spec", {{"replicas", 4}}}});
  fake_.put(pdbsResource(), pdbObj(nullptr, "25%"));
  for (const char* n : {"db-a", "db-b", "db-c"})
    fake_.put(podsResource(), *podOwnedBy(n, "ReplicationController", "v1"));
  json status = statusOf(reconcileOnce());
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["expectedPods"], 4);
  EXPECT_EQ(status["desiredHealthy"], 3);  // 4 - 25% of 4
  EXPECT_EQ(status["currentHealthy"], 3);
  EXPECT_EQ(status["disruptionsAllowed"], 0);
  EXPECT_EQ(status["conditions"][0]["reason"], "InsufficientPods");
}

TEST_F(DisruptionControllerTest, AJobsPodsFailAPercentBudgetWithAnEvent) {
  fake_.put(pdbsResource(), pdbObj(nullptr, "10%"));
  fake_.put(podsResource(), *podOwnedBy("db-x", "Job", "batch/v1"));
  auto acts = reconcileOnce();
  json status = statusOf(acts);
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["disruptionsAllowed"], 0);
  EXPECT_EQ(status["conditions"][0]["reason"], "SyncFailed");
  EXPECT_EQ(status["conditions"][0]["message"], "jobs.batch does not implement the scale subresource");
  auto evs = events(acts);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["type"], "Warning");
  EXPECT_EQ(evs[0]["reason"], "CalculateExpectedPodCountFailed");
  EXPECT_EQ(evs[0]["message"], "Failed to calculate the number of expected pods: jobs.batch does not "
                               "implement the scale subresource");
  EXPECT_EQ(evs[0]["involvedObject"]["kind"], "PodDisruptionBudget");
}

TEST_F(DisruptionControllerTest, UnmanagedPodsAreReportedByAnEvent) {
  fake_.put(pdbsResource(), pdbObj("50%"));
  fake_.put(podsResource(), *podObj("bare", true, ""));
  auto acts = reconcileOnce();
  json status = statusOf(acts);
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["expectedPods"], 0);
  EXPECT_EQ(status["disruptionsAllowed"], 0);
  auto evs = events(acts);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["reason"], "UnmanagedPods");
  EXPECT_EQ(evs[0]["message"].get<std::string>().rfind(
                "Pods selected by this PodDisruptionBudget (selector: &LabelSelector{MatchLabels:"
                "map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}) were "
                "found to be unmanaged.", 0),
            0u);
}

}  // namespace
}  // namespace berth::controllers
