// Services reached from the nodes themselves on a real local cluster (root, runc): `berth
// cluster create` brings up two private runc nodes in two zones, each in its own network
// namespace; a NodePort Service fronts one httpd pod per node (each answers with its own name).
// From inside node A's namespace (`ip netns exec`, the way a process on the node connects):
// the ClusterIP reaches both pods, the NodePort answers on A's own address and on node B's
// address; after B's pod turns unready (its exec readiness probe fails) every request through
// the ClusterIP and through the NodePort on either node is answered by A's pod only, so the
// unready pod gets no traffic. Everything goes with `berth cluster delete`, also on failure.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster_workspace.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ClusterServicesTest : public LocalClusterTest {
 protected:
  void SetUp() override {
    if (std::string why = missingPrerequisite({"runc", "nft", "curl"}); !why.empty()) GTEST_SKIP() << why;
    makeWorkspace("csvc", "s");
    config_ = writeConfig({"local-1a", "local-1b"}, 2, 2, 2);
  }
  void TearDown() override {
    if (!ws_) return;
    CmdResult deleted = berth({"cluster", "delete", name_}, 180s);
    EXPECT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
    EXPECT_EQ(run({"sh", "-c", "ip netns list | grep -c berth-" + name_ + "-"}).out, "0\n");
  }
  // GET http://ip:port/ from inside a node's network namespace; the body without its newline.
  std::string fromNode(const std::string& node, const std::string& ip, int port) {
    CmdResult r = run({"ip", "netns", "exec", "berth-" + name_ + "-" + node, "curl", "-s", "-m", "3",
                       "http://" + ip + ":" + std::to_string(port) + "/"});
    std::string out = r.exit_code == 0 ? r.out : "curl exit " + std::to_string(r.exit_code);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  // Waits until node's Service proxy table DNATs to `ip` (present) or no longer does. Kernel
  // state has no watch: checked every 100 ms, up to 60 s.
  bool waitRules(const std::string& node, const std::string& ip, bool present) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      CmdResult t = run({"ip", "netns", "exec", "berth-" + name_ + "-" + node, "nft", "list", "ruleset"});
      bool has_table = t.exit_code == 0 && t.out.find("berth-proxy-") != std::string::npos;
      if (has_table && (t.out.find("dnat to " + ip + ":") != std::string::npos) == present) return true;
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << node << "'s proxy rules " << (present ? "never sent" : "still send") << " to " << ip
                      << ":\n" << t.out << ok({"get", "endpointslices", "-o", "yaml"})
                      << run({"sh", "-c", "grep -h 'proxy\\|informer\\|watch' " + ws_->dir() + "/state/" + name_ +
                                              "/cloud/instances/" + node + "/agent.log | tail -n 30"}).out;
        return false;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string config_;
};

TEST_F(ClusterServicesTest, ClusterIpAndNodePortFromNodesOnlyReadyEndpoints) {
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  std::string port = registry.address().substr(registry.address().find(':') + 1);
  CmdResult created = berth({"cluster", "create", "-f", config_, "--registry-ports", port});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;

  // One httpd pod per node (spread over the zones); each serves its own name.
  ok({"apply", "-f", "-"},
     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n"
     "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
     "    spec:\n      topologySpreadConstraints:\n"
     "      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule,\n"
     "         labelSelector: {matchLabels: {app: web}}}\n"
     "      containers:\n      - name: web\n        image: localhost:" + port + "/berth/busybox:1\n"
     "        command: [sh, -c, 'mkdir /www && hostname > /www/index.html && touch /tmp/ready && "
     "exec httpd -f -p 8080 -h /www']\n"
     "        readinessProbe:\n          exec: {command: [cat, /tmp/ready]}\n"
     "          periodSeconds: 1\n          timeoutSeconds: 5\n          failureThreshold: 1\n---\n"
     "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n"
     "  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n");
  CmdResult rolled = kubectl({"rollout", "status", "deploy/web", "--timeout=180s"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err << ok({"get", "pods", "-o", "wide"});
  ok({"wait", "--for=condition=Ready", "pod", "-l", "app=web", "--timeout=60s"});

  json pods = json::parse(ok({"get", "pods", "-l", "app=web", "-o", "json"}));
  ASSERT_EQ(pods["items"].size(), 2u);
  std::string pod_a = pods["items"][0]["metadata"]["name"], node_a = pods["items"][0]["spec"]["nodeName"];
  std::string pod_b = pods["items"][1]["metadata"]["name"], node_b = pods["items"][1]["spec"]["nodeName"];
  ASSERT_NE(node_a, node_b);
  std::string ip_b = pods["items"][1]["status"]["podIP"];
  auto nodeIp = [&](const std::string& node) {
    return ok({"get", "node", node, "-o", "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}"});
  };
  std::string addr_a = nodeIp(node_a), addr_b = nodeIp(node_b);
  std::string cluster_ip = ok({"get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"});
  int node_port = std::stoi(ok({"get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"}));

  std::string ip_a = pods["items"][0]["status"]["podIP"];
  for (const std::string& node : {node_a, node_b})
    for (const std::string& ip : {ip_a, ip_b}) ASSERT_TRUE(waitRules(node, ip, true));

  // From node A's own namespace: the ClusterIP spreads over both pods.
  std::set<std::string> seen;
  for (int i = 0; i < 40 && seen.size() < 2; ++i) seen.insert(fromNode(node_a, cluster_ip, 80));
  EXPECT_EQ(seen, (std::set<std::string>{pod_a, pod_b}));
  // The NodePort on A's own address and on B's address, from A.
  for (const std::string& addr : {addr_a, addr_b}) {
    std::string got = fromNode(node_a, addr, node_port);
    EXPECT_TRUE(got == pod_a || got == pod_b) << "NodePort " << addr << ":" << node_port << " gave: " << got;
  }
  // And the ClusterIP from B's namespace too.
  std::string from_b = fromNode(node_b, cluster_ip, 80);
  EXPECT_TRUE(from_b == pod_a || from_b == pod_b) << from_b;

  // B's pod turns unready. Once both nodes' rules have dropped it, nothing reaches it any more.
  ok({"exec", pod_b, "--", "rm", "/tmp/ready"});
  ok({"wait", "--for=condition=Ready=false", "pod/" + pod_b, "--timeout=60s"});
  for (const std::string& node : {node_a, node_b}) ASSERT_TRUE(waitRules(node, ip_b, false));
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(fromNode(node_a, cluster_ip, 80), pod_a);
    EXPECT_EQ(fromNode(node_a, addr_b, node_port), pod_a);
    EXPECT_EQ(fromNode(node_b, addr_a, node_port), pod_a);
  }
}

}  // namespace
}  // namespace berth::e2e
