// Cluster DNS records (the dnsmasq hosts file) and the pod resolv.conf from dnsPolicy.
#include <gtest/gtest.h>

#include "kubelet-lite/network/cluster_dns.h"
#include "kubelet-lite/network/pod_dns.h"
#include "kubelet-lite/network/proxy_rules.h"

namespace berth::kubelet::net {
namespace {

using json = nlohmann::json;

json service(const std::string& ns, const std::string& name, const std::string& ip) {
  json s = {{"metadata", {{"namespace", ns}, {"name", name}, {"uid", "u"}, {"labels", {{"a", "b"}}}}},
            {"spec", {{"clusterIP", ip}, {"selector", {{"app", name}}},
                      {"ports", {{{"port", 80}, {"protocol", "TCP"}}}}}}};
  stripService(s);
  return s;
}

json slice(const std::string& ns, const std::string& svc, std::vector<std::pair<std::string, bool>> eps) {
  json e = json::array();
  for (auto& [ip, ready] : eps) e.push_back({{"addresses", {ip}}, {"conditions", {{"ready", ready}}}});
  json s = {{"metadata", {{"namespace", ns}, {"name", svc + "-x"},
                          {"labels", {{"kubernetes.io/service-name", svc}}}}},
            {"addressType", "IPv4"}, {"endpoints", e},
            {"ports", {{{"name", ""}, {"port", 8080}, {"protocol", "TCP"}}}}};
  stripEndpointSlice(s);
  return s;
}

TEST(DnsHosts, ClusterIpAndHeadlessRecords) {
  std::string hosts = renderDnsHosts(
      {service("default", "web", "10.96.0.20"), service("db", "pg", "None"),
       service("default", "ext", "")},
      {slice("db", "pg", {{"10.244.1.5", true}, {"10.244.2.6", false}, {"10.244.2.7", true}})},
      "cluster.local");
  EXPECT_NE(hosts.find("10.96.0.20 web.default.svc.cluster.local web.default.svc\n"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("10.244.1.5 pg.db.svc.cluster.local pg.db.svc\n"), std::string::npos) << hosts;
  EXPECT_NE(hosts.find("10.244.2.7 pg.db.svc.cluster.local pg.db.svc\n"), std::string::npos) << hosts;
  EXPECT_EQ(hosts.find("10.244.2.6"), std::string::npos) << "unready endpoint listed:\n" << hosts;
  EXPECT_EQ(hosts.find("ext."), std::string::npos) << hosts;
}

TEST(DnsHosts, OtherDomain) {
  std::string hosts = renderDnsHosts({service("a", "b", "10.96.0.30")}, {}, "corp.internal");
  EXPECT_NE(hosts.find("10.96.0.30 b.a.svc.corp.internal b.a.svc\n"), std::string::npos) << hosts;
}

const char kHostResolv[] = "# host\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n";

json pod(const std::string& policy, bool host_network = false, json dns_config = nullptr) {
  json p = {{"metadata", {{"namespace", "shop"}, {"name", "p"}}}, {"spec", json::object()}};
  if (!policy.empty()) p["spec"]["dnsPolicy"] = policy;
  if (host_network) p["spec"]["hostNetwork"] = true;
  if (!dns_config.is_null()) p["spec"]["dnsConfig"] = dns_config;
  return p;
}

TEST(PodDns, ClusterFirstUsesTheClusterDns) {
  DnsConfig d = podDnsConfig(pod(""), {"10.96.0.10"}, "cluster.local", kHostResolv);
  EXPECT_EQ(d.servers, std::vector<std::string>({"10.96.0.10"}));
  EXPECT_EQ(d.searches, std::vector<std::string>({"shop.svc.cluster.local", "svc.cluster.local",
                                                  "cluster.local", "example.org"}));
  EXPECT_EQ(d.options, std::vector<std::string>({"ndots:5"}));
}

TEST(PodDns, DefaultAndHostNetworkUseTheNodes) {
  for (const json& p : {pod("Default"), pod("ClusterFirst", true)}) {
    DnsConfig d = podDnsConfig(p, {"10.96.0.10"}, "cluster.local", kHostResolv);
    EXPECT_EQ(d.servers, std::vector<std::string>({"192.0.2.53"}));
    EXPECT_EQ(d.searches, std::vector<std::string>({"example.org"}));
    EXPECT_EQ(d.options, std::vector<std::string>({"edns0"}));
  }
  DnsConfig d = podDnsConfig(pod("ClusterFirstWithHostNet", true), {"10.96.0.10"}, "cluster.local", kHostResolv);
  EXPECT_EQ(d.servers, std::vector<std::string>({"10.96.0.10"}));
  // Without a cluster DNS, ClusterFirst falls back to the node's.
  d = podDnsConfig(pod(""), {}, "cluster.local", kHostResolv);
  EXPECT_EQ(d.servers, std::vector<std::string>({"192.0.2.53"}));
}

TEST(PodDns, NoneTakesOnlyDnsConfigAndDnsConfigMerges) {
  json cfg = {{"nameservers", {"1.2.3.4"}}, {"searches", {"x.test"}},
              {"options", {{{"name", "ndots"}, {"value", "2"}}, {{"name", "rotate"}}}}};
  DnsConfig d = podDnsConfig(pod("None", false, cfg), {"10.96.0.10"}, "cluster.local", kHostResolv);
  EXPECT_EQ(d.servers, std::vector<std::string>({"1.2.3.4"}));
  EXPECT_EQ(d.searches, std::vector<std::string>({"x.test"}));
  EXPECT_EQ(d.options, std::vector<std::string>({"ndots:2", "rotate"}));
  d = podDnsConfig(pod("ClusterFirst", false, cfg), {"10.96.0.10"}, "cluster.local", kHostResolv);
  EXPECT_EQ(d.servers, std::vector<std::string>({"10.96.0.10", "1.2.3.4"}));
  EXPECT_EQ(d.searches.back(), "x.test");
  EXPECT_EQ(d.options, std::vector<std::string>({"ndots:2", "rotate"}));  // ndots replaced
}

}  // namespace
}  // namespace berth::kubelet::net
