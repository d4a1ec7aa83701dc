// Pod range assignment for simulated agents: ranges never overlap those of other nodes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kubelet-lite/node_status.h"

namespace berth::kubelet {
namespace {

using json = nlohmann::json;

json node(const std::string& name, const std::string& cidr) {
  json n = {{"metadata", {{"name", name}}}, {"spec", json::object()}};
  if (!cidr.empty()) n["spec"]["podCIDR"] = cidr;
  return n;
}

TEST(PodCidrTest, IndexRoundTrips) {
  EXPECT_EQ(podCidrIndex("10.244.0.0/24"), 0);
  EXPECT_EQ(podCidrIndex("10.244.7.0/24"), 7);
  EXPECT_EQ(podCidrIndex("10.245.1.0/24"), 257);
  EXPECT_EQ(podCidrIndex(podCidrForIndex(600)), 600);
  EXPECT_EQ(podCidrIndex("10.244.7.0/16"), -1);
  EXPECT_EQ(podCidrIndex("10.244.7.0/24x"), -1);
  EXPECT_EQ(podCidrIndex("192.168.1.0/24"), -1);
  EXPECT_EQ(podCidrIndex(""), -1);
}

TEST(PodCidrTest, EmptyClusterCountsFromZero) {
  EXPECT_EQ(assignPodCidrIndexes({"a", "b", "c"}, json::array()), (std::vector<int>{0, 1, 2}));
}

TEST(PodCidrTest, SecondAgentSkipsRangesOfOtherNodes) {
  json nodes = json::array({node("sim-node-0", "10.244.0.0/24"), node("sim-node-1", "10.244.1.0/24"),
                            node("sim-node-2", "10.244.2.0/24")});
  EXPECT_EQ(assignPodCidrIndexes({"extra-0"}, nodes), (std::vector<int>{3}));
  EXPECT_EQ(assignPodCidrIndexes({"new-0", "new-1"}, nodes), (std::vector<int>{3, 4}));
}

TEST(PodCidrTest, FillsHolesAndKeepsOwnRanges) {
  json nodes = json::array({node("x", "10.244.1.0/24"), node("mine-1", "10.244.0.0/24"),
                            node("pending", "")});
  // mine-1 keeps 0; mine-0 and mine-2 get the free 2 and 3 (1 is x's).
  EXPECT_EQ(assignPodCidrIndexes({"mine-0", "mine-1", "mine-2"}, nodes), (std::vector<int>{2, 0, 3}));
}

}  // namespace
}  // namespace berth::kubelet
