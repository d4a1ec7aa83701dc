#include "apiserver/core/service_allocator.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth::apiserver {
namespace {

using json = nlohmann::json;

json svc(const std::string& type, int node_port = 0, const std::string& ip = "") {
  json s = {{"spec", {{"type", type}, {"ports", {{{"port", 80}}}}}}};
  if (node_port) s["spec"]["ports"][0]["nodePort"] = node_port;
  if (!ip.empty()) s["spec"]["clusterIP"] = ip;
  return s;
}

TEST(ServiceAllocatorTest, AllocatesDistinctAddressesInRange) {
  auto a = std::move(ServiceAllocator::create("10.96.0.0/28", "30000-30001")).value();
  EXPECT_EQ(a->firstAddress(), "10.96.0.1");
  std::set<std::string> ips;
  for (int i = 0; i < 14; ++i) {
    json s = svc("ClusterIP");
    ASSERT_TRUE(a->allocate(s).isOk()) << i;
    ips.insert(s["spec"]["clusterIP"].get<std::string>());
    EXPECT_EQ(s["spec"]["clusterIPs"][0], s["spec"]["clusterIP"]);
  }
  EXPECT_EQ(ips.size(), 14u);
  json full = svc("ClusterIP");
  EXPECT_FALSE(a->allocate(full).isOk());
}

TEST(ServiceAllocatorTest, RequestedAddressAndPortsAreChecked) {
  auto a = std::move(ServiceAllocator::create("10.96.0.0/24", "30000-30002")).value();
  json s = svc("NodePort", 30001, "10.96.0.50");
  ASSERT_TRUE(a->allocate(s).isOk());
  EXPECT_EQ(s["spec"]["ports"][0]["nodePort"], 30001);
  json dup = svc("NodePort", 30001);
  Status st = a->allocate(dup);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_NE(st.message().find("already allocated"), std::string::npos);
  json out = svc("ClusterIP", 0, "10.97.0.1");
  EXPECT_EQ(a->allocate(out).code(), Code::kInvalid);
  json bad_port = svc("NodePort", 40000);
  EXPECT_EQ(a->allocate(bad_port).code(), Code::kInvalid);
  // Releasing frees the port and the address for reuse.
  a->release(s);
  json again = svc("NodePort", 30001, "10.96.0.50");
  EXPECT_TRUE(a->allocate(again).isOk());
}

TEST(ServiceAllocatorTest, HeadlessAndExternalNameGetNoAddress) {
  auto a = std::move(ServiceAllocator::create("10.96.0.0/24", "30000-30002")).value();
  json h = svc("ClusterIP", 0, "None");
  ASSERT_TRUE(a->allocate(h).isOk());
  EXPECT_EQ(h["spec"]["clusterIPs"][0], "None");
  json e = {{"spec", {{"type", "ExternalName"}, {"externalName", "example.com"}}}};
  ASSERT_TRUE(a->allocate(e).isOk());
  EXPECT_FALSE(e["spec"].contains("clusterIP"));
}

TEST(ServiceAllocatorTest, TypeChangeAllocatesAndReleasesNodePorts) {
  auto a = std::move(ServiceAllocator::create("10.96.0.0/24", "30000-30000")).value();
  json old = svc("ClusterIP");
  ASSERT_TRUE(a->allocate(old).isOk());
  json np = old;
  np["spec"]["type"] = "NodePort";
  ASSERT_TRUE(a->reallocate(np, old).isOk());
  EXPECT_EQ(np["spec"]["ports"][0]["nodePort"], 30000);
  json back = np;
  back["spec"]["type"] = "ClusterIP";
  ASSERT_TRUE(a->reallocate(back, np).isOk());
  EXPECT_FALSE(back["spec"]["ports"][0].contains("nodePort"));
  json other = svc("NodePort");
  EXPECT_TRUE(a->allocate(other).isOk()) << "the only port should be free again";
}

TEST(ServiceAllocatorTest, LoadBalancerNodePortsFollowAllocateLoadBalancerNodePorts) {
  auto a = std::move(ServiceAllocator::create("10.96.0.0/24", "30000-30009")).value();
  json lb = svc("LoadBalancer");
  lb["spec"]["allocateLoadBalancerNodePorts"] = true;
  ASSERT_TRUE(a->allocate(lb).isOk());
  EXPECT_GE(lb["spec"]["ports"][0].value("nodePort", 0), 30000) << "as NodePort";
  json none = svc("LoadBalancer");
  none["spec"]["allocateLoadBalancerNodePorts"] = false;
  none["spec"]["ports"].push_back({{"port", 81}, {"nodePort", 30005}});
  ASSERT_TRUE(a->allocate(none).isOk());
  EXPECT_FALSE(none["spec"]["ports"][0].contains("nodePort")) << none.dump();
  EXPECT_EQ(none["spec"]["ports"][1]["nodePort"], 30005) << "asked for, so allocated";
  json upd = none;
  upd["spec"]["ports"][1].erase("nodePort");  // resubmitted without it: kept
  ASSERT_TRUE(a->reallocate(upd, none).isOk());
  EXPECT_FALSE(upd["spec"]["ports"][0].contains("nodePort"));
  EXPECT_EQ(upd["spec"]["ports"][1]["nodePort"], 30005);
}

TEST(ServiceAllocatorTest, RejectsBadRanges) {
  EXPECT_FALSE(ServiceAllocator::create("10.96.0.0", "30000-32767").isOk());
  EXPECT_FALSE(ServiceAllocator::create("10.96.0.0/12", "3-2").isOk());
}

}  // namespace
}  // namespace berth::apiserver
