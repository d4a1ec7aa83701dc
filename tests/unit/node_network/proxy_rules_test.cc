// Service proxy model (ready endpoints per port) and its nftables rendering; the rendered script
// is checked by the real `nft -c` when run as root.
#include "kubelet-lite/network/proxy_rules.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/strings.h"
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

// The lines of `script` that start with `prefix`.
std::vector<std::string> linesStarting(const std::string& script, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(script);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  return out;
}

TEST(ProxyRender, AnUpdateTouchesOnlyWhatChanged) {
  RenderOptions ro{"berth-proxy-n1", "", {}};
  ProxyTable before = buildProxyTable(sample(), ro), after = buildProxyTable(sampleLater(), ro);
  std::string update = renderRulesetUpdate(before, after);
  EXPECT_EQ(update.find("table ip berth-proxy-n1 {}"), std::string::npos) << update;
  EXPECT_EQ(update.find("delete table"), std::string::npos) << update;
  EXPECT_EQ(update.find("flush table"), std::string::npos) << update;
  EXPECT_EQ(update.find("flush map"), std::string::npos) << update;
  // Endpoints that stay, base chains and maps are not written again.
  EXPECT_EQ(update.find("10.244.1.5"), std::string::npos) << update;
  EXPECT_EQ(update.find("nat-prerouting"), std::string::npos) << update;
  EXPECT_EQ(update.find("map cluster-ips"), std::string::npos) << update;
  // web:http's svc_ chain is rewritten over its two remaining endpoints.
  ASSERT_EQ(linesStarting(update, "flush chain ip berth-proxy-n1 svc_").size(), 2u) << update;
  EXPECT_NE(update.find("numgen random mod 2 vmap"), std::string::npos) << update;
  // What left: the dns port's chains and set, the endpoint's chain and set (ClientIP affinity).
  auto deleted = linesStarting(update, "delete chain ip berth-proxy-n1 ");
  auto deleted_sets = linesStarting(update, "delete set ip berth-proxy-n1 aff_");
  EXPECT_EQ(deleted.size(), 3u) << update;  // svc_ and ep_ of dns, ep_ of 10.244.3.8:8080
  EXPECT_EQ(deleted_sets.size(), 2u) << update;  // their affinity sets
  EXPECT_EQ(linesStarting(update, "delete chain ip berth-proxy-n1 svc_").size(), 1u) << update;
  // web:dns now refuses: its cluster-ips element is swapped for a no-endpoints one.
  EXPECT_NE(update.find("delete element ip berth-proxy-n1 cluster-ips { 10.96.0.20 . udp . 53 }"),
            std::string::npos) << update;
  EXPECT_NE(update.find("add element ip berth-proxy-n1 no-endpoints { 10.96.0.20 . udp . 53 : goto reject-svc }"),
            std::string::npos) << update;
  EXPECT_EQ(update.find("10.244.3.8"), std::string::npos) << update;
  // Nothing to do when nothing changed.
  EXPECT_EQ(renderRulesetUpdate(after, after), "");
  EXPECT_EQ(renderRulesetUpdate(before, buildProxyTable(sample(), ro)), "");
}

TEST(ProxyRender, AnUpdateToADifferentTableOrMapIsAReplace) {
  ProxyTable a = buildProxyTable(sample(), RenderOptions{"t1", "", {}});
  ProxyTable b = buildProxyTable(sample(), RenderOptions{"t2", "", {}});
  EXPECT_EQ(renderRulesetUpdate(a, b), renderRuleset(b));
  ProxyTable c = a;
  c.objects[0].spec = {"type inet_proto . inet_service : verdict"};  // cluster-ips redeclared
  EXPECT_EQ(renderRulesetUpdate(a, c), renderRuleset(c));
}

// Root: a real table in this process's network namespace, changed by updates and compared, line
// by line, with a table of the same content written whole.
class ProxyKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "nft needs root";
    ro_ = {"berth-proxy-unit-upd-" + std::to_string(::getpid()), "bpod0123456789", {}};
    ref_ = {"berth-proxy-unit-ref-" + std::to_string(::getpid()), "bpod0123456789", {}};
  }
  void TearDown() override {
    for (const auto* o : {&ro_, &ref_})
      if (!o->table.empty()) (void)runCommand({"nft", "delete", "table", "ip", o->table});
  }
  static std::string nft(const std::string& script) {
    auto r = runCommand({"nft", "-f", "-"}, std::chrono::seconds(30), script);
    return r.isOk() && r->exit_code == 0 ? std::string() : (r.isOk() ? r->out : r.status().toString());
  }
  // The table's listing without its name, one sorted line per rule, declaration or element.
  static std::vector<std::string> listing(const std::string& table) {
    auto r = runCommand({"nft", "list", "table", "ip", table});
    std::vector<std::string> out;
    if (!r.isOk() || r->exit_code != 0) return out;
    std::istringstream in(r->out);
    for (std::string line; std::getline(in, line);) {
      if (line.find("table ip ") != std::string::npos) continue;
      // Elements are listed several to a line, in the kernel's order: one each.
      for (const auto& part : split(line, ',')) {
        std::string p(trim(part));
        if (p.rfind("elements = { ", 0) == 0) p = p.substr(13);
        if (!p.empty() && p.back() == '}' && p.find('{') == std::string::npos && p != "}") p = std::string(trim(p.substr(0, p.size() - 1)));
        if (!p.empty()) out.push_back(p);
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Applies the update from the table applied last to `ports` and checks the table is the one a
  // replace writes.
  void step(const std::vector<ProxyServicePort>& ports, const char* what) {
    ProxyTable next = buildProxyTable(ports, ro_);
    std::string update = renderRulesetUpdate(applied_, next);
    ASSERT_EQ(nft(update), "") << what << ":\n" << update;
    ASSERT_EQ(nft(renderRuleset(buildProxyTable(ports, ref_))), "") << what;
    EXPECT_EQ(listing(ro_.table), listing(ref_.table)) << what << ":\n" << update;
    EXPECT_FALSE(listing(ro_.table).empty());
    applied_ = next;
  }
  RenderOptions ro_, ref_;
  ProxyTable applied_;
};

TEST_F(ProxyKernelTest, UpdatesGiveTheTableAReplaceWrites) {
  applied_ = buildProxyTable(sample(), ro_);
  ASSERT_EQ(nft(renderRuleset(applied_)), "");
  step(sampleLater(), "an endpoint unready, a port without endpoints");
  step(sample(), "both back");
  auto m = sample();
  m[2].affinity_timeout_seconds = 60;
  step(m, "affinity timeout changed");
  m[2].affinity_timeout_seconds = 0;
  m[2].node_port = 30081;
  step(m, "affinity off, node port changed");
  m[2].load_balancer_ips = {"198.51.100.20"};
  m[2].endpoints.push_back({"10.244.4.9", 8080});
  step(m, "a load-balancer IP and an endpoint added");
  m[0].endpoints.push_back({"10.244.4.9", 8081});
  m.erase(m.begin() + 1);
  step(m, "a port gone, the empty Service gets an endpoint");
  step({}, "every Service gone");
  step(sample(), "all back");
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
