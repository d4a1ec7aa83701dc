// Load-balancer specs, their normal form, public addresses and the HAProxy configuration
// (checked by `haproxy -c` when haproxy is installed).
#include "networking/local/load_balancer_plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace berth::networking {
namespace {

cloud::LoadBalancerSpec webSpec() {
  cloud::LoadBalancerSpec s;
  s.name = "default-web";
  s.listeners.push_back({80, "tcp", {{"10.0.96.5", 30080, "local-1b"}, {"10.0.64.4", 30080, "local-1a"}}});
  return s;
}

void expectInvalid(const cloud::LoadBalancerSpec& s, const std::string& field) {
  Status st = validateLoadBalancerSpec(s);
  EXPECT_EQ(st.code(), Code::kInvalid) << field;
  EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
}

TEST(LoadBalancerSpec, ValidSpecPasses) { EXPECT_TRUE(validateLoadBalancerSpec(webSpec()).isOk()); }

TEST(LoadBalancerSpec, BadFieldsAreNamed) {
  auto s = webSpec();
  s.name = "";
  expectInvalid(s, "spec.name");
  s.name = "Web_1";
  expectInvalid(s, "spec.name");
  s = webSpec();
  s.listeners.clear();
  expectInvalid(s, "spec.listeners");
  s = webSpec();
  s.listeners[0].port = 0;
  expectInvalid(s, "spec.listeners[0].port");
  s = webSpec();
  s.listeners.push_back({80, "TCP", {}});
  expectInvalid(s, "spec.listeners[1].port");
  s = webSpec();
  s.listeners[0].protocol = "UDP";
  expectInvalid(s, "spec.listeners[0].protocol");
  s = webSpec();
  s.listeners[0].targets[1].ip = "10.0.64";
  expectInvalid(s, "spec.listeners[0].targets[1].ip");
  s = webSpec();
  s.listeners[0].targets[0].port = 70000;
  expectInvalid(s, "spec.listeners[0].targets[0].port");
  s = webSpec();
  s.zones = {"local-1a", ""};
  expectInvalid(s, "spec.zones[1]");
}

TEST(LoadBalancerSpec, NormalFormSortsDedupesAndDefaultsZones) {
  auto s = webSpec();
  s.listeners.insert(s.listeners.begin(), {443, "TCP", {{"10.0.64.4", 30443, "local-1a"}}});
  s.listeners[1].targets.push_back({"10.0.64.4", 30080, "local-1a"});
  auto n = normalizeLoadBalancerSpec(s, {"local-1b", "local-1a"});
  ASSERT_EQ(n.listeners.size(), 2u);
  EXPECT_EQ(n.listeners[0].port, 80);
  EXPECT_EQ(n.listeners[0].protocol, "TCP");
  ASSERT_EQ(n.listeners[0].targets.size(), 2u);
  EXPECT_EQ(n.listeners[0].targets[0].ip, "10.0.64.4");  // numeric order
  EXPECT_EQ(n.listeners[0].targets[1].ip, "10.0.96.5");
  EXPECT_EQ(n.zones, (std::vector<std::string>{"local-1a", "local-1b"}));
  s.zones = {"local-1b"};
  EXPECT_EQ(normalizeLoadBalancerSpec(s, {"local-1a", "local-1b"}).zones, std::vector<std::string>{"local-1b"});
}

TEST(LoadBalancerSpec, SameSpecIgnoresOrderButNotTargets) {
  auto a = webSpec();
  auto b = webSpec();
  std::swap(b.listeners[0].targets[0], b.listeners[0].targets[1]);
  std::vector<std::string> zones = {"local-1a", "local-1b"};
  EXPECT_TRUE(sameLoadBalancerSpec(normalizeLoadBalancerSpec(a, zones), normalizeLoadBalancerSpec(b, zones)));
  b.listeners[0].targets.pop_back();
  EXPECT_FALSE(sameLoadBalancerSpec(normalizeLoadBalancerSpec(a, zones), normalizeLoadBalancerSpec(b, zones)));
  b = webSpec();
  b.listeners[0].targets[0].port = 30081;
  EXPECT_FALSE(sameLoadBalancerSpec(normalizeLoadBalancerSpec(a, zones), normalizeLoadBalancerSpec(b, zones)));
  b = webSpec();
  b.zones = {"local-1a"};
  EXPECT_FALSE(sameLoadBalancerSpec(normalizeLoadBalancerSpec(a, zones), normalizeLoadBalancerSpec(b, zones)));
}

TEST(LoadBalancerAddress, FirstFreeFromOffset64) {
  EXPECT_EQ(*pickLoadBalancerAddress("198.18.7.0/24", {}), "198.18.7.64");
  EXPECT_EQ(*pickLoadBalancerAddress("198.18.7.0/24", {"198.18.7.64", "198.18.7.16", "198.18.7.66"}), "198.18.7.65");
  std::set<std::string> all;
  for (int i = kLbFirstOffset; i <= kLbLastOffset; ++i) all.insert("198.18.7." + std::to_string(i));
  auto full = pickLoadBalancerAddress("198.18.7.0/24", all);
  EXPECT_EQ(full.status().code(), Code::kUnavailable);
  EXPECT_FALSE(pickLoadBalancerAddress("198.18.7.0/23", {}).isOk());
  EXPECT_FALSE(pickLoadBalancerAddress("nonsense", {}).isOk());
}

TEST(HaproxyConfig, OneFrontendAndCheckedBackendPerListener) {
  auto s = webSpec();
  s.listeners.push_back({443, "TCP", {{"10.0.64.4", 30443, "local-1a"}}});
  std::string cfg = renderHaproxyConfig(normalizeLoadBalancerSpec(s, {"local-1a"}), "lb-0123", "198.18.7.64");
  EXPECT_NE(cfg.find("mode tcp"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("frontend listener-80\n  bind 198.18.7.64:80\n  default_backend targets-80\n"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("frontend listener-443\n  bind 198.18.7.64:443\n"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("  server 10.0.64.4:30080 10.0.64.4:30080 check\n  server 10.0.96.5:30080 10.0.96.5:30080 check\n"),
            std::string::npos) << cfg;
  EXPECT_NE(cfg.find("server 10.0.64.4:30443 10.0.64.4:30443 check"), std::string::npos) << cfg;
  // A dead target leaves within ~3 s: 1 s checks, 250 ms once failing, out after 2 failures.
  EXPECT_NE(cfg.find("default-server inter 1s fastinter 250ms downinter 1s fall 2 rise 2"), std::string::npos);
  EXPECT_NE(cfg.find("timeout connect 1s"), std::string::npos);
  EXPECT_NE(cfg.find("option redispatch"), std::string::npos);
}

TEST(HaproxyConfig, HaproxyAcceptsIt) {
  if (::access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "haproxy is not installed";
  auto s = webSpec();
  s.listeners.push_back({8443, "TCP", {}});  // a listener without targets is valid too
  std::string path = std::filesystem::temp_directory_path() / ("berth-lb-plan-" + std::to_string(::getpid()) + ".cfg");
  std::ofstream(path) << renderHaproxyConfig(normalizeLoadBalancerSpec(s, {"local-1a"}), "lb-0123", "198.18.7.64");
  int rc = std::system(("/usr/sbin/haproxy -c -q -f " + path + " > /dev/null 2>&1").c_str());
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace berth::networking
