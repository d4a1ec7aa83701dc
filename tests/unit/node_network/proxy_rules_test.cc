// Service proxy model (ready endpoints per port) and its nftables rendering; the rendered script
// is checked by the real `nft -c` when run as root.
#include "kubelet-lite/network/proxy_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/subprocess.h"

namespace berth::kubelet::net {
namespace {

using json = nlohmann::json;

json service(const std::string& name, const std::string& ip, json ports, json extra = json::object()) {
  json s = {{"metadata", {{"namespace", "default"}, {"name", name}}},
            {"spec", {{"clusterIP", ip}, {"ports", ports}}}};
  s["spec"].update(extra);
  stripService(s);
  return s;
}

json slice(const std::string& svc, json endpoints, json ports) {
  json s = {{"metadata", {{"namespace", "default"}, {"name", svc + "-abc"},
                          {"labels", {{"kubernetes.io/service-name", svc}, {"other", "x"}}}}},
            {"addressType", "IPv4"}, {"endpoints", endpoints}, {"ports", ports}};
  stripEndpointSlice(s);
  return s;
}

json ep(const std::string& ip, json ready = nullptr) {
  json e = {{"addresses", {ip}}, {"nodeName", "n1"}};
  if (!ready.is_null()) e["conditions"] = {{"ready", ready}};
  return e;
}

std::vector<ProxyServicePort> sample() {
  return buildProxyModel(
      {service("web", "10.96.0.20",
               {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"nodePort", 30080}},
                {{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}}},
               {{"type", "NodePort"}, {"sessionAffinity", "ClientIP"}}),
       service("empty", "10.96.0.21", {{{"port", 81}}}),
       service("headless", "None", {{{"port", 82}}}),
       service("name", "", {{{"port", 83}}}, {{"type", "ExternalName"}})},
      {slice("web", {ep("10.244.1.5"), ep("10.244.2.6", false), ep("10.244.2.7", true)},
             {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}),
       slice("web", {ep("10.244.3.8", true)},
             {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}},
              {{"name", "dns"}, {"port", 5353}, {"protocol", "UDP"}}})});
}

TEST(ProxyModel, ReadyEndpointsPerPortFromEverySlice) {
  auto m = sample();
  ASSERT_EQ(m.size(), 3u);  // empty:"" , web:dns, web:http; headless and ExternalName skipped
  EXPECT_EQ(m[0].name, "empty");
  EXPECT_TRUE(m[0].endpoints.empty());
  EXPECT_EQ(m[1].port_name, "dns");
  EXPECT_EQ(m[1].protocol, "udp");
  ASSERT_EQ(m[1].endpoints.size(), 1u);
  EXPECT_EQ(m[1].endpoints[0].port, 5353);
  const auto& http = m[2];
  EXPECT_EQ(http.node_port, 30080);
  EXPECT_EQ(http.affinity_timeout_seconds, 10800);
  std::vector<std::string> ips;
  for (const auto& e : http.endpoints) ips.push_back(e.ip + ":" + std::to_string(e.port));
  // The unready 10.244.2.6 is left out; a missing condition counts as ready.
  EXPECT_EQ(ips, std::vector<std::string>({"10.244.1.5:8080", "10.244.2.7:8080", "10.244.3.8:8080"}));
}

TEST(ProxyRender, MapsChainsAndRejects) {
  RenderOptions ro{"berth-proxy-n1", "bpod0123456789", {}};
  std::string r = renderRuleset(sample(), ro);
  // One transaction replacing the table.
  EXPECT_EQ(r.rfind("table ip berth-proxy-n1 {}\ndelete table ip berth-proxy-n1\ntable ip berth-proxy-n1 {\n", 0), 0u) << r;
  EXPECT_NE(r.find("10.96.0.20 . tcp . 80 : goto svc_"), std::string::npos) << r;
  EXPECT_NE(r.find("10.96.0.20 . udp . 53 : goto svc_"), std::string::npos) << r;
  EXPECT_NE(r.find("tcp . 30080 : goto np_"), std::string::npos) << r;
  EXPECT_NE(r.find("10.96.0.21 . tcp . 81 : goto reject-svc"), std::string::npos) << r;
  EXPECT_NE(r.find("numgen random mod 3 vmap"), std::string::npos) << r;
  EXPECT_NE(r.find("meta l4proto tcp dnat to 10.244.3.8:8080"), std::string::npos) << r;
  EXPECT_NE(r.find("meta l4proto udp dnat to 10.244.3.8:5353"), std::string::npos) << r;
  EXPECT_EQ(r.find("10.244.2.6"), std::string::npos) << "unready endpoint programmed:\n" << r;
  EXPECT_NE(r.find("ip saddr 10.244.1.5 jump mark-for-masq"), std::string::npos) << r;
  EXPECT_NE(r.find("iifname \"bpod0123456789\" oifname \"bpod0123456789\" ct status dnat masquerade"),
            std::string::npos) << r;
  EXPECT_NE(r.find("update @aff_"), std::string::npos) << r;
  EXPECT_NE(r.find("timeout 10800s"), std::string::npos) << r;
}

TEST(ProxyRender, SkipsLocallyServedIps) {
  RenderOptions ro{"t", "", {"10.96.0.21"}};
  std::string r = renderRuleset(sample(), ro);
  EXPECT_EQ(r.find("10.96.0.21"), std::string::npos) << r;
  EXPECT_EQ(r.find("iifname"), std::string::npos) << r;
}

TEST(ProxyRender, TableNamesAreSafe) {
  EXPECT_EQ(proxyTableName("node-local-1a-1"), "berth-proxy-node-local-1a-1");
  EXPECT_EQ(proxyTableName("Ip_10.0.0.1"), "berth-proxy-ip-10.0.0.1");
  EXPECT_LE(proxyTableName(std::string(200, 'a')).size(), 12u + 64u);
}

TEST(ProxyRender, AcceptedByNft) {
  if (::geteuid() != 0) GTEST_SKIP() << "nft -c needs root";
  RenderOptions ro{"berth-proxy-unit-" + std::to_string(::getpid()), "bpod0123456789", {}};
  std::string script = renderRuleset(sample(), ro);
  // -c: parse and check against the kernel without committing anything.
  auto r = runCommand({"nft", "-c", "-f", "-"}, std::chrono::seconds(30), script);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->exit_code, 0) << r->out << "\n" << script;
  // An empty model renders a valid table too.
  r = runCommand({"nft", "-c", "-f", "-"}, std::chrono::seconds(30), renderRuleset({}, ro));
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->exit_code, 0) << r->out;
}

// sample() after web:dns lost its only endpoint and web:http its endpoint 10.244.3.8.
std::vector<ProxyServicePort> sampleLater() {
  auto m = sample();
  m[1].endpoints.clear();
  m[2].endpoints.pop_back();
  return m;
}

TEST(ProxyRender, AnUpdateKeepsTheTableAndDeletesWhatIsGone) {
  RenderOptions ro{"berth-proxy-n1", "", {}};
  std::string full = renderRuleset(sample(), ro);
  std::string update = renderRulesetUpdate(sampleLater(), ro, full);
  EXPECT_EQ(update.rfind("flush table ip berth-proxy-n1\n", 0), 0u) << update;
  EXPECT_EQ(update.find("delete table"), std::string::npos) << update;
  EXPECT_NE(update.find("flush map ip berth-proxy-n1 cluster-ips\n"), std::string::npos);
  // What left: the dns port's chains and set, the endpoint's chain and set (ClientIP affinity).
  auto before = declaredObjects(full), after = declaredObjects(update);
  size_t deleted = 0;
  for (const auto& obj : before) {
    std::string del = "delete " + obj.substr(0, obj.find(' ')) + " ip berth-proxy-n1" + obj.substr(obj.find(' ')) + "\n";
    EXPECT_EQ(update.find(del) != std::string::npos, after.count(obj) == 0) << obj << "\n" << update;
    deleted += after.count(obj) == 0;
  }
  EXPECT_EQ(deleted, 5u) << update;  // svc_, ep_ and aff_ of dns; ep_ and aff_ of 10.244.3.8
  EXPECT_EQ(update.find("10.244.3.8"), std::string::npos);
  EXPECT_NE(update.find("dnat to 10.244.2.7:8080"), std::string::npos);
}

TEST(ProxyRender, AnUpdateAppliesOverTheFullTable) {
  if (::geteuid() != 0) GTEST_SKIP() << "nft needs root";
  RenderOptions ro{"berth-proxy-unit-upd-" + std::to_string(::getpid()), "", {}};
  auto nft = [](const std::string& script) {
    auto r = runCommand({"nft", "-f", "-"}, std::chrono::seconds(30), script);
    return r.isOk() && r->exit_code == 0 ? std::string() : (r.isOk() ? r->out : r.status().toString());
  };
  std::string full = renderRuleset(sample(), ro);
  ASSERT_EQ(nft(full), "") << full;
  std::string update = renderRulesetUpdate(sampleLater(), ro, full);
  EXPECT_EQ(nft(update), "") << update;
  auto listed = runCommand({"nft", "list", "table", "ip", ro.table});
  ASSERT_TRUE(listed.isOk());
  EXPECT_EQ(listed->out.find("10.244.3.8"), std::string::npos) << listed->out;
  EXPECT_NE(listed->out.find("dnat to 10.244.2.7:8080"), std::string::npos) << listed->out;
  // And back again: the update in the other direction recreates what it deleted.
  EXPECT_EQ(nft(renderRulesetUpdate(sample(), ro, update)), "");
  listed = runCommand({"nft", "list", "table", "ip", ro.table});
  EXPECT_NE(listed->out.find("dnat to 10.244.3.8:8080"), std::string::npos) << listed->out;
  (void)runCommand({"nft", "delete", "table", "ip", ro.table});
}

// A type LoadBalancer Service: its nodePort as NodePort's, and its status.loadBalancer.ingress
// IPs (ipMode VIP) handled in-cluster like kube-proxy does; ipMode Proxy is left to the balancer.
std::vector<ProxyServicePort> lbSample(bool with_endpoints) {
  json lb = service("shop", "10.96.0.30", {{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"nodePort", 30090}}},
                    {{"type", "LoadBalancer"}});
  json status = {{"loadBalancer", {{"ingress", {{{"ip", "198.51.100.10"}, {"ipMode", "VIP"}},
                                                {{"ip", "198.51.100.11"}, {"ipMode", "Proxy"}}}}}}};
  lb["status"] = status;
  json stale = service("was-lb", "10.96.0.31", {{{"port", 81}, {"nodePort", 30091}}}, {{"type", "NodePort"}});
  stale["status"] = {{"loadBalancer", {{"ingress", {{{"ip", "198.51.100.12"}}}}}}};
  std::vector<json> services = {lb, stale};
  for (json& s : services) {
    json full = s;
    stripService(s);  // what the proxy's informer keeps
    EXPECT_EQ(s.value("status", json()), full["status"]);
  }
  std::vector<json> slices;
  if (with_endpoints)
    slices = {slice("shop", {ep("10.244.1.5")}, {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}),
              slice("was-lb", {ep("10.244.1.6")}, {{{"port", 8081}, {"protocol", "TCP"}}})};
  return buildProxyModel(services, slices);
}

TEST(ProxyRender, LoadBalancerIngressIpsAreServedInCluster) {
  auto m = lbSample(true);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "shop");
  EXPECT_EQ(m[0].node_port, 30090);
  EXPECT_EQ(m[0].load_balancer_ips, std::vector<std::string>({"198.51.100.10"}));
  EXPECT_TRUE(m[1].load_balancer_ips.empty()) << "no longer of type LoadBalancer";
  RenderOptions ro{"t", "", {}};
  std::string r = renderRuleset(m, ro);
  EXPECT_NE(r.find("198.51.100.10 . tcp . 80 : goto np_"), std::string::npos) << r;
  EXPECT_NE(r.find("tcp . 30090 : goto np_"), std::string::npos) << r;
  EXPECT_NE(r.find("vmap @lb-ips"), std::string::npos) << r;
  EXPECT_EQ(r.find("198.51.100.11"), std::string::npos) << "ipMode Proxy programmed:\n" << r;
  EXPECT_EQ(r.find("198.51.100.12"), std::string::npos) << "stale ingress programmed:\n" << r;

  // Without ready endpoints the balancer's address refuses, as the cluster IP does.
  r = renderRuleset(lbSample(false), ro);
  EXPECT_NE(r.find("198.51.100.10 . tcp . 80 : goto reject-svc"), std::string::npos) << r;
  EXPECT_NE(r.find("tcp . 30090 : goto reject-svc"), std::string::npos) << r;
}

TEST(ProxyRender, LoadBalancerRulesAcceptedByNft) {
  if (::geteuid() != 0) GTEST_SKIP() << "nft -c needs root";
  RenderOptions ro{"berth-proxy-unitlb-" + std::to_string(::getpid()), "bpod0123456789", {}};
  for (bool eps : {true, false}) {
    std::string script = renderRuleset(lbSample(eps), ro);
    auto r = runCommand({"nft", "-c", "-f", "-"}, std::chrono::seconds(30), script);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->exit_code, 0) << r->out << "\n" << script;
  }
}

}  // namespace
}  // namespace berth::kubelet::net
