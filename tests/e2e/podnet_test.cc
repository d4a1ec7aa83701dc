// End-to-end: pod and Service networking on real kernel networking, driven by the real kubectl.
// Two runc agents share the host's network namespace (as scripts/run-cluster.sh runs them):
// pods get addresses from their node's podCIDR and reach each other across nodes; a ClusterIP
// Service answers from a pod on the other node; a NodePort answers on the node's address; a pod turning unready (readiness probe) stops receiving traffic; short
// names and FQDNs resolve through the cluster DNS (dnsmasq on kube-dns's address).
// Needs root, runc, nft and dnsmasq; skips otherwise. Everything it makes (pods, namespaces,
// bridges, nft tables, dnsmasq) is removed at the end, also when an assertion fails.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "kubelet-lite/network/bridge_network.h"
#include "kubelet-lite/network/proxy_rules.h"
#include "tests/e2e/harness.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool haveTool(const std::string& t) { return run({"sh", "-c", "command -v " + t}).exit_code == 0; }

// Kernel state has no watch: checks `pred` until true or the deadline.
template <typename F>
bool eventually(F pred, std::chrono::milliseconds timeout = 30s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

class PodNetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "pod networking needs root (namespaces, links, nftables)";
    for (const char* t : {"runc", "nft", "dnsmasq", "ip"})
      if (!haveTool(t)) GTEST_SKIP() << t << " is not installed";
    forward_ = slurp("/proc/sys/net/ipv4/ip_forward");
    registry_ = std::make_unique<testing::TestRegistry>();
    ASSERT_TRUE(registry_->ok()) << "test registry: " << registry_->error();
    server_ = std::make_unique<Server>();
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    root_ = makeTempDir("berth-podnet-");
    std::string suffix = root_.substr(root_.size() - 5);
    for (char& c : suffix) c = std::isalnum(static_cast<unsigned char>(c)) ? std::tolower(c) : 'x';
    nodes_ = {"pn" + suffix + "-a", "pn" + suffix + "-b"};
    for (const auto& n : nodes_) {
      agents_.push_back(std::make_unique<Child>(std::vector<std::string>{
          berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime", "runc",
          "--node-name", n, "--kubelet-port", "0", "--root-dir", root_}));
      ASSERT_TRUE(agents_.back()->waitFor("berth agent running", 60s)) << "agent " << n << " did not start";
    }
    ok({"wait", "--for=condition=Ready", "node/" + nodes_[0], "node/" + nodes_[1], "--timeout=60s"});
    ok({"create", "namespace", ns_});
  }

  void TearDown() override {
    if (server_ && server_->ok()) {
      // Pods first: their containers and namespaces outlive a stopped agent by design.
      k({"delete", "namespace", ns_, "--wait=true", "--timeout=60s"});
    }
    for (auto& a : agents_) {
      a->kill(SIGTERM);
      a->wait();
    }
    agents_.clear();
    removeLeftovers();
    server_.reset();
    registry_.reset();
    if (!forward_.empty()) std::ofstream("/proc/sys/net/ipv4/ip_forward") << forward_;
    if (!root_.empty()) fs::remove_all(root_);
  }

  // Whatever a failed run may leave: runc containers and pod namespaces of our agents, the
  // bridges and nft tables named after our nodes.
  void removeLeftovers() {
    std::error_code ec;
    for (const auto& n : nodes_) {
      std::string runc_root = root_ + "/" + n + "/runc";
      auto list = run({"runc", "--root", runc_root + "/state", "list", "-q"});
      std::istringstream ids(list.out);
      for (std::string id; std::getline(ids, id);)
        if (!id.empty()) run({"runc", "--root", runc_root + "/state", "delete", "-f", id});
      for (const auto& e : fs::directory_iterator(runc_root + "/sandboxes", ec)) {
        json j = json::parse(slurp((e.path() / "sandbox.json").string()), nullptr, false);
        if (j.is_object() && !j.value("netns", "").empty()) run({"ip", "netns", "del", j["netns"]});
      }
      for (const auto& e : fs::directory_iterator(runc_root + "/containers", ec))
        ::umount2((e.path() / "rootfs").c_str(), MNT_DETACH);
      run({"ip", "link", "del", kubelet::net::bridgeName(n)});
      std::string guard = kubelet::net::BridgeNetwork::guardTable(n);
      if (!guard.empty()) run({"nft", "delete", "table", "ip", guard});
      run({"nft", "delete", "table", "ip", kubelet::net::proxyTableName(n)});
    }
  }

  CmdResult k(const std::vector<std::string>& args, const std::string& input = "") {
    return server_->kubectl(args, input);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = k(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " failed: " << r.err << r.out;
    return r.out;
  }
  std::string jsonpath(const std::vector<std::string>& what, const std::string& path) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.insert(args.end(), {"-n", ns_, "-o", "jsonpath=" + path});
    return ok(args);
  }
  // One HTTP/1.0 GET with busybox nc from inside `pod`; returns the body's last line.
  std::string fetchFrom(const std::string& pod, const std::string& host, int port) {
    auto r = k({"exec", "-n", ns_, pod, "--", "sh", "-c",
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " + host + " " + std::to_string(port) +
                    " | tail -n 1"});
    std::string out = r.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }
  std::string webPod(const std::string& name, const std::string& node) {
    return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\n  namespace: " + ns_ +
           "\n  labels: {app: web}\nspec:\n  nodeName: " + node +
           "\n  containers:\n  - name: web\n    image: " + registry_->image("1") +
           "\n    command: [sh, -c, 'echo " + name + " > /tmp/index.html; touch /tmp/ready; "
           "exec httpd -f -p 8080 -h /tmp']\n"
           "    readinessProbe:\n      exec: {command: [cat, /tmp/ready]}\n"
           "      periodSeconds: 1\n      failureThreshold: 1\n";
  }

  std::string forward_;
  std::unique_ptr<testing::TestRegistry> registry_;
  std::unique_ptr<Server> server_;
  std::string root_;
  std::vector<std::string> nodes_;
  std::vector<std::unique_ptr<Child>> agents_;
  std::string ns_ = "podnet";
};

TEST_F(PodNetTest, PodsServicesNodePortsReadinessAndDns) {
  ok({"apply", "-f", "-"}, webPod("web-a", nodes_[0]) + "---\n" + webPod("web-b", nodes_[1]) +
      "---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: " + ns_ + "}\n"
      "spec:\n  nodeName: " + nodes_[1] + "\n  containers:\n  - name: c\n    image: " +
      registry_->image("1") + "\n    command: [sleep, '3600']\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: " + ns_ + "}\n"
      "spec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n");
  ok({"wait", "-n", ns_, "--for=condition=Ready", "pod/web-a", "pod/web-b", "pod/client", "--timeout=120s"});

  // Addresses from each node's podCIDR (not the node's IP).
  std::string node_ip = ok({"get", "node", nodes_[0], "-o",
                            "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}"});
  for (auto [pod, node] : {std::pair{"web-a", nodes_[0]}, std::pair{"web-b", nodes_[1]}}) {
    std::string cidr = ok({"get", "node", node, "-o", "jsonpath={.spec.podCIDR}"});
    std::string ip = jsonpath({"pod", pod}, "{.status.podIP}");
    ASSERT_FALSE(cidr.empty());
    EXPECT_EQ(ip.rfind(cidr.substr(0, cidr.rfind('.') + 1), 0), 0u) << pod << " " << ip << " not in " << cidr;
    EXPECT_NE(ip, node_ip);
  }
  std::string ip_a = jsonpath({"pod", "web-a"}, "{.status.podIP}");

  // Pod to pod across nodes.
  EXPECT_EQ(fetchFrom("client", ip_a, 8080), "web-a");

  // ClusterIP from a pod on the other node: both endpoints answer.
  std::string cluster_ip = jsonpath({"service", "web"}, "{.spec.clusterIP}");
  int node_port = std::stoi(jsonpath({"service", "web"}, "{.spec.ports[0].nodePort}"));
  std::set<std::string> seen;
  for (int i = 0; i < 40 && seen.size() < 2; ++i) seen.insert(fetchFrom("client", cluster_ip, 80));
  EXPECT_EQ(seen, (std::set<std::string>{"web-a", "web-b"}));

  // The NodePort on the node's address, from a pod.
  std::string via_node_port = fetchFrom("client", node_ip, node_port);
  EXPECT_TRUE(via_node_port == "web-a" || via_node_port == "web-b") << via_node_port;

  // DNS: short name and FQDN from a pod.
  auto lookup = k({"exec", "-n", ns_, "client", "--", "busybox", "nslookup",
                   "web." + ns_ + ".svc.cluster.local"});
  EXPECT_NE(lookup.out.find("Address: " + cluster_ip), std::string::npos) << lookup.out << lookup.err;
  std::string by_name = fetchFrom("client", "web", 80);
  EXPECT_TRUE(by_name == "web-a" || by_name == "web-b") << by_name;
  std::string by_fqdn = fetchFrom("client", "web." + ns_ + ".svc.cluster.local", 80);
  EXPECT_TRUE(by_fqdn == "web-a" || by_fqdn == "web-b") << by_fqdn;
  std::string resolv = k({"exec", "-n", ns_, "client", "--", "cat", "/etc/resolv.conf"}).out;
  EXPECT_NE(resolv.find("search " + ns_ + ".svc.cluster.local svc.cluster.local cluster.local"),
            std::string::npos) << resolv;
  EXPECT_NE(resolv.find("options ndots:5"), std::string::npos) << resolv;

  // web-a turns unready: once its endpoint is out of the rules, only web-b answers.
  k({"exec", "-n", ns_, "web-a", "--", "rm", "/tmp/ready"});
  ok({"wait", "-n", ns_, "--for=condition=Ready=false", "pod/web-a", "--timeout=60s"});
  std::string table = kubelet::net::proxyTableName(nodes_[1]);
  EXPECT_TRUE(eventually([&] {
    auto r = run({"nft", "list", "table", "ip", table});
    return r.exit_code == 0 && r.out.find("dnat to " + ip_a + ":") == std::string::npos;
  })) << "web-a's endpoint still in " << table;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fetchFrom("client", cluster_ip, 80), "web-b");
}

}  // namespace
}  // namespace berth::e2e
