#include "controllers/disruption_controller.h"

#include <gtest/gtest.h>

#include "controllers/replicaset_controller.h"
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

TEST(PdbCounts, PodWithoutControllerFailsAPercentBudget) {
  std::vector<ObjectPtr> pods = {podObj("a", true, "")};
  auto c = computePdbCounts(pdbObj(nullptr, 1), pods, scaleIs(1), at("2026-01-01T00:10:00Z"));
  ASSERT_FALSE(c.isOk());
  json status = pdbStatus(pdbObj(nullptr, 1), c, at("2026-01-01T00:10:00Z"));
  EXPECT_EQ(status["disruptionsAllowed"], 0);
  EXPECT_EQ(status["conditions"][0]["reason"], "SyncFailed");
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

}  // namespace
}  // namespace berth::controllers
