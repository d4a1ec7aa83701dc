#include "nodegroups/controller/nodegroup_plan.h"

#include <gtest/gtest.h>

#include "tests/unit/nodegroups/controller/fake_clock.h"

namespace berth::nodegroups {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class PlanTest : public ::testing::Test {
 protected:
  // An instance launched `age` ago with a node that is Ready (or not) since then.
  GroupInstance inst(const std::string& id, const std::string& zone, bool ready = true,
                     bool outdated = false, std::chrono::milliseconds age = 10min) {
    cloud::Instance i;
    i.id = id;
    i.instance_type = "m5.large";
    i.zone = zone;
    i.state = cloud::InstanceState::kRunning;
    i.launch_time = clock_.now() - age;
    i.tags[kTagTemplateHash] = outdated ? "old" : "cur";
    json node = {{"metadata", {{"name", id}}},
                 {"status", {{"conditions", json::array({{{"type", "Ready"},
                                                          {"status", ready ? "True" : "False"},
                                                          {"lastTransitionTime", formatRfc3339(i.launch_time)}}})}}}};
    return classify(i, &node, "cur", clock_.now(), cfg_);
  }
  GroupInput input(int64_t desired, std::vector<GroupInstance> instances, int64_t max_unavailable = 1) {
    GroupInput in;
    in.desired = desired;
    in.max_unavailable = max_unavailable;
    in.distribution.instance_types = {"m5.large"};
    in.instances = std::move(instances);
    return in;
  }
  testing::FakeClock clock_;
  PlanConfig cfg_;
};

TEST_F(PlanTest, LaunchesUpToDesired) {
  Plan p = planGroup(input(3, {inst("a", "z1")}));
  EXPECT_EQ(p.launch, 2);
  EXPECT_TRUE(p.terminate.empty());
  EXPECT_TRUE(p.drain.empty());
}

TEST_F(PlanTest, UnhealthyInstancesAreReplaced) {
  cloud::Instance noNode;
  noNode.id = "late";
  noNode.zone = "z1";
  noNode.launch_time = clock_.now() - 6min;
  GroupInstance late = classify(noNode, nullptr, "cur", clock_.now(), cfg_);
  EXPECT_NE(late.unhealthy.find("did not register"), std::string::npos);
  noNode.launch_time = clock_.now() - 1min;
  EXPECT_TRUE(classify(noNode, nullptr, "cur", clock_.now(), cfg_).unhealthy.empty());

  GroupInstance notReady = inst("nr", "z2", false, false, 10min);
  EXPECT_NE(notReady.unhealthy.find("did not become Ready"), std::string::npos);
  Plan p = planGroup(input(3, {inst("a", "z1"), late, notReady}));
  EXPECT_EQ(p.terminate.size(), 2u);
  EXPECT_TRUE(p.terminate.count("late"));
  EXPECT_TRUE(p.terminate.count("nr"));
  EXPECT_EQ(p.launch, 2) << "both are replaced at once";
}

TEST_F(PlanTest, NodeNotReadyPastTimeoutAfterBeingReady) {
  cloud::Instance i;
  i.id = "x";
  i.zone = "z1";
  i.launch_time = clock_.now() - 1h;
  json node = {{"metadata", {{"name", "x"}}},
               {"status", {{"conditions", json::array({{{"type", "Ready"}, {"status", "Unknown"},
                                                        {"lastTransitionTime", formatRfc3339(clock_.now() - 2min)}}})}}}};
  EXPECT_TRUE(classify(i, &node, "cur", clock_.now(), cfg_).unhealthy.empty());
  clock_.advance(4min);
  GroupInstance gi = classify(i, &node, "cur", clock_.now(), cfg_);
  EXPECT_NE(gi.unhealthy.find("NotReady for more than 5m"), std::string::npos) << gi.unhealthy;
}

TEST_F(PlanTest, SpotInterruptionDrainsAndReplacesAtOnce) {
  GroupInstance a = inst("a", "z1");
  a.node["status"]["conditions"].push_back({{"type", "SpotInterruption"}, {"status", "True"}});
  a = classify(a.instance, &a.node, "cur", clock_.now(), cfg_);
  ASSERT_TRUE(a.interrupted);
  Plan p = planGroup(input(2, {a, inst("b", "z2")}));
  EXPECT_TRUE(p.drain.count("a"));
  EXPECT_EQ(p.launch, 1) << "the replacement does not wait for the drain";
  // Once tainted it is a drain in progress, still not counted.
  a.draining = true;
  p = planGroup(input(2, {a, inst("b", "z2"), inst("c", "z3", false, false, 1s)}));
  EXPECT_EQ(p.draining, std::vector<std::string>{"a"});
  EXPECT_EQ(p.launch, 0);
}

TEST_F(PlanTest, ScaleInDrainsReadyNodesFromTheFullestZone) {
  Plan p = planGroup(input(2, {inst("a1", "z1"), inst("a2", "z1", true, false, 20min),
                               inst("b1", "z2"), inst("c1", "z3", false, false, 1s)}));
  // Not-ready c1 goes first (terminated, nothing to drain), then the oldest of z1.
  EXPECT_TRUE(p.terminate.count("c1"));
  EXPECT_TRUE(p.drain.count("a2"));
  EXPECT_EQ(p.terminate.size() + p.drain.size(), 2u);
}

TEST_F(PlanTest, RollingUpdateSurgesThenReplacesWithinMaxUnavailable) {
  // Two old Ready instances, desired 2, maxUnavailable 1: launch one new first, drain nothing.
  Plan p = planGroup(input(2, {inst("o1", "z1", true, true), inst("o2", "z2", true, true)}));
  EXPECT_TRUE(p.rolling);
  EXPECT_EQ(p.launch, 1);
  EXPECT_TRUE(p.drain.empty());
  // The new one is not Ready yet: still nothing drained, nothing more launched.
  p = planGroup(input(2, {inst("o1", "z1", true, true), inst("o2", "z2", true, true),
                          inst("n1", "z3", false, false, 1s)}));
  EXPECT_EQ(p.launch, 0);
  EXPECT_TRUE(p.drain.empty());
  // Ready: one old node drains (only one: maxUnavailable), the next new one launches.
  p = planGroup(input(2, {inst("o1", "z1", true, true, 30min), inst("o2", "z2", true, true),
                          inst("n1", "z3")}));
  EXPECT_EQ(p.drain.size(), 1u);
  EXPECT_TRUE(p.drain.count("o1"));
  EXPECT_NE(p.drain["o1"].find("rolling update"), std::string::npos);
  // While o1 drains, o2 waits even when another new node is Ready.
  GroupInstance o1 = inst("o1", "z1", true, true);
  o1.draining = true;
  p = planGroup(input(2, {o1, inst("o2", "z2", true, true), inst("n1", "z3"), inst("n2", "z1")}));
  EXPECT_TRUE(p.drain.empty());
  EXPECT_EQ(p.draining_outdated, 1);
  // With maxUnavailable 2 both can go once enough new nodes are Ready.
  p = planGroup(input(2, {inst("o1", "z1", true, true), inst("o2", "z2", true, true),
                          inst("n1", "z3"), inst("n2", "z1")}, 2));
  EXPECT_EQ(p.drain.size(), 2u);
}

TEST_F(PlanTest, DeletingDrainsReadyNodesAndTerminatesTheRest) {
  GroupInput in = input(3, {inst("a", "z1"), inst("b", "z2", false, false, 1s)});
  in.deleting = true;
  Plan p = planGroup(in);
  EXPECT_TRUE(p.drain.count("a"));
  EXPECT_TRUE(p.terminate.count("b"));
  EXPECT_EQ(p.launch, 0);
}

TEST_F(PlanTest, TemplateHashFollowsWhatRolls) {
  json spec = json::parse(R"({"instanceTypes":["m5.large"],"labels":{"a":"b"},"scaling":{"desiredSize":2}})");
  std::string h = templateHash(spec);
  EXPECT_EQ(h.size(), 16u);
  json scaled = spec;
  scaled["scaling"]["desiredSize"] = 5;
  EXPECT_EQ(templateHash(scaled), h) << "scaling does not roll";
  json retyped = spec;
  retyped["instanceTypes"] = {"c5.large"};
  EXPECT_NE(templateHash(retyped), h);
  json relabelled = spec;
  relabelled["taints"] = json::array({{{"key", "k"}, {"effect", "NoSchedule"}}});
  EXPECT_NE(templateHash(relabelled), h);
  EXPECT_EQ(maxUnavailable(json::parse(R"({"updateConfig":{"maxUnavailablePercentage":50}})"), 5), 2);
  EXPECT_EQ(maxUnavailable(json::parse(R"({"updateConfig":{"maxUnavailablePercentage":10}})"), 5), 1);
  EXPECT_EQ(maxUnavailable(json::parse(R"({"updateConfig":{"maxUnavailable":3}})"), 5), 3);
}

}  // namespace
}  // namespace berth::nodegroups
