// End-to-end: the Service load-balancer controller in `berth server --cloud-provider simulated`
// (no root: the simulated cloud's balancers carry no traffic but have stable addresses from
// 198.51.100.0/24), driven by the real kubectl: a Service of type LoadBalancer gets
// status.loadBalancer.ingress and a `kubectl get loadbalancers` object whose targets are the
// nodes' InternalIP:nodePort and follow a node-group scale-up and scale-down; events show in
// `kubectl events`; a UDP port is refused with a warning; changing the type to ClusterIP removes
// the balancer and clears the status; deleting a Service waits for its balancer (finalizer); a
// Service with spec.loadBalancerClass is left alone.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <sstream>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

std::string shortName() {
  std::mt19937 rng(std::random_device{}());
  std::string s = "t";
  for (int i = 0; i < 5; ++i) s.push_back("abcdefghijklmnopqrstuvwxyz"[rng() % 26]);
  return s;
}

const char* kGroup = R"(apiVersion: berth.dev/v1alpha1
kind: NodeGroup
metadata: {name: lb}
spec:
  instanceTypes: [m5.large]
  availabilityZones: [local-1a, local-1b, local-1c]
  scaling: {minSize: 0, desiredSize: 3, maxSize: 6}
)";

std::string service(const std::string& name, const std::string& ports, const std::string& extra_spec = "") {
  return "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: default}\nspec:\n"
         "  type: LoadBalancer\n  selector: {app: " + name + "}\n  ports: " + ports + "\n" + extra_spec;
}

class ServiceLbTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = new std::string(makeTempDir("svclb"));
    server_ = new Server({"--cloud-provider", "simulated", "--cluster-name", shortName(),
                          "--cloud-state-dir", *state_});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    auto r = server_->kubectl({"apply", "-f", "-"}, kGroup);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = server_->kubectl({"wait", "nodegroup/lb", "--for=jsonpath={.status.readyReplicas}=3", "--timeout=90s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    server_->stop();
    delete server_;
    server_ = nullptr;
    std::error_code ec;
    std::filesystem::remove_all(*state_, ec);
    delete state_;
  }
  CmdResult k(const std::vector<std::string>& args, const std::string& input = "") {
    return server_->kubectl(args, input);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = k(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " " << (args.size() > 1 ? args[1] : "")
                              << " failed: " << r.err;
    return r.out;
  }
  json getJson(const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"-o", "json"});
    return json::parse(ok(a));
  }
  // Waits for the Service's balancer address and returns it.
  std::string waitIngress(const std::string& svc) {
    auto r = k({"wait", "svc/" + svc, "--for=jsonpath={.status.loadBalancer.ingress[0].ip}", "--timeout=60s"});
    EXPECT_EQ(r.exit_code, 0) << svc << " got no ingress: " << r.err << "\n"
                              << k({"get", "svc", svc, "-o", "yaml"}).out;
    return getJson({"get", "svc", svc})["status"]["loadBalancer"]["ingress"][0].value("ip", "");
  }
  // Runs a `kubectl get -w` (argv) until a line satisfies `pred`; false after 90 s.
  bool watchUntil(const std::vector<std::string>& args, const std::function<bool(const std::string&)>& pred,
                  std::string* seen) {
    // A watch the server ends early (kubectl then exits) is started again: kubectl prints the
    // current object first, so nothing is missed.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    while (std::chrono::steady_clock::now() < deadline) {
      Child w(server_->kubectlArgv(args), server_->kubectlEnv());
      std::string line;
      while (std::chrono::steady_clock::now() < deadline && w.readLine(&line, std::chrono::seconds(10))) {
        *seen += line + "\n";
        if (pred(line)) return true;
      }
    }
    return false;
  }
  // The InternalIPs of the group's Ready nodes.
  std::set<std::string> nodeIps() {
    std::set<std::string> ips;
    json nodes = getJson({"get", "nodes", "-l", "eks.amazonaws.com/nodegroup=lb"});
    for (const json& n : nodes["items"])
      for (const json& a : n["status"]["addresses"])
        if (a.value("type", "") == "InternalIP") ips.insert(a.value("address", ""));
    return ips;
  }
  // Watches the balancer object until its first listener targets exactly the group's nodes.
  void waitTargetsAreNodes(const std::string& lb, size_t n) {
    auto r = k({"wait", "nodegroup/lb", "--for=jsonpath={.status.readyReplicas}=" + std::to_string(n),
                "--timeout=90s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = k({"wait", "nodegroup/lb", "--for=jsonpath={.status.replicas}=" + std::to_string(n), "--timeout=90s"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::set<std::string> want = nodeIps();
    ASSERT_EQ(want.size(), n);
    std::string seen;
    bool done = watchUntil({"get", "loadbalancer", lb, "-w", "-o",
                            "jsonpath={range .spec.listeners[0].targets[*]}{.ip} {end}{\"\\n\"}"},
                           [&](const std::string& line) {
                             std::istringstream in(line);
                             std::set<std::string> got;
                             for (std::string ip; in >> ip;) got.insert(ip);
                             return got == want;
                           }, &seen);
    ASSERT_TRUE(done) << "targets never became the " << n << " nodes; seen:\n" << seen;
  }
  // Waits for an event about `obj` with `reason` (events are written asynchronously).
  void waitEvent(const std::string& obj, const std::string& reason) {
    std::string seen;
    bool found = watchUntil({"get", "events", "--field-selector", "involvedObject.name=" + obj, "-w", "-o",
                             "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers"},
                            [&](const std::string& line) { return line.find(reason) != std::string::npos; }, &seen);
    ASSERT_TRUE(found) << "no " << reason << " event about " << obj << "; seen:\n" << seen;
  }

  static Server* server_;
  static std::string* state_;
};

Server* ServiceLbTest::server_ = nullptr;
std::string* ServiceLbTest::state_ = nullptr;

TEST_F(ServiceLbTest, BalancerFollowsNodesAndGoesWithTheType) {
  ok({"apply", "-f", "-"}, service("web", "[{name: http, port: 80, targetPort: 8080}, {name: https, port: 443}]"));
  std::string address = waitIngress("web");
  EXPECT_EQ(address.rfind("198.51.100.", 0), 0u) << address;
  json svc = getJson({"get", "svc", "web"});
  EXPECT_EQ(svc["status"]["loadBalancer"]["ingress"][0].value("ipMode", ""), "VIP");
  EXPECT_EQ(svc["metadata"]["finalizers"], json::array({"service.kubernetes.io/load-balancer-cleanup"}));
  EXPECT_NE(ok({"get", "svc", "web"}).find(address), std::string::npos) << "EXTERNAL-IP shows the address";

  std::string table = ok({"get", "loadbalancers"});
  EXPECT_NE(table.find("default-web"), std::string::npos) << table;
  EXPECT_NE(table.find(address), std::string::npos) << table;
  EXPECT_NE(table.find("default/web"), std::string::npos) << table;
  EXPECT_NE(table.find("80/TCP,443/TCP"), std::string::npos) << table;

  // One listener per port, targeting every node at the port's nodePort, in every zone.
  json lb = getJson({"get", "loadbalancer", "default-web"});
  EXPECT_EQ(lb["status"].value("address", ""), address);
  EXPECT_EQ(lb["status"].value("state", ""), "active");
  EXPECT_EQ(lb["spec"]["zones"], json::array({"local-1a", "local-1b", "local-1c"}));
  ASSERT_EQ(lb["spec"]["listeners"].size(), 2u);
  std::set<std::string> nodes = nodeIps();
  ASSERT_EQ(nodes.size(), 3u) << "each simulated instance has its own private IP";
  for (size_t i = 0; i < 2; ++i) {
    const json& l = lb["spec"]["listeners"][i];
    EXPECT_EQ(l["port"], svc["spec"]["ports"][i]["port"]);
    std::set<std::string> ips, zones;
    for (const json& t : l["targets"]) {
      EXPECT_EQ(t["port"], svc["spec"]["ports"][i]["nodePort"]);
      ips.insert(t.value("ip", ""));
      zones.insert(t.value("zone", ""));
    }
    EXPECT_EQ(ips, nodes);
    EXPECT_EQ(zones.size(), 3u);
  }

  // Targets follow the nodes.
  ok({"scale", "nodegroup", "lb", "--replicas=4"});
  waitTargetsAreNodes("default-web", 4);
  ok({"scale", "nodegroup", "lb", "--replicas=2"});
  waitTargetsAreNodes("default-web", 2);
  waitEvent("web", "UpdatedLoadBalancer");
  std::string events = ok({"events", "--for", "service/web"});
  EXPECT_NE(events.find("EnsuringLoadBalancer"), std::string::npos) << events;
  EXPECT_NE(events.find("EnsuredLoadBalancer"), std::string::npos) << events;
  EXPECT_NE(events.find("UpdatedLoadBalancer"), std::string::npos) << events;

  // Type ClusterIP: balancer gone, status cleared, finalizer removed.
  ok({"patch", "svc", "web", "--type=merge", "-p",
      R"({"spec":{"type":"ClusterIP","ports":[{"name":"http","port":80,"targetPort":8080},{"name":"https","port":443}]}})"});
  auto r = k({"wait", "--for=delete", "loadbalancer/default-web", "--timeout=60s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string seen;
  ASSERT_TRUE(watchUntil({"get", "svc", "web", "-w", "-o",
                          "jsonpath={.metadata.finalizers}|{.status.loadBalancer.ingress}|{\"\\n\"}"},
                         [](const std::string& line) { return line == "||"; }, &seen))
      << "finalizer and ingress stayed: " << seen;
  waitEvent("web", "DeletedLoadBalancer");
}

TEST_F(ServiceLbTest, UdpPortIsRefusedWithAWarning) {
  ok({"apply", "-f", "-"},
     service("mixed", "[{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]"));
  waitIngress("mixed");
  waitEvent("mixed", "UnsupportedPort");
  std::string events = ok({"events", "--for", "service/mixed", "--types", "Warning"});
  EXPECT_NE(events.find("53/UDP"), std::string::npos) << events;
  json lb = getJson({"get", "loadbalancer", "default-mixed"});
  ASSERT_EQ(lb["spec"]["listeners"].size(), 1u);
  EXPECT_EQ(lb["spec"]["listeners"][0]["port"], 80);
  ok({"delete", "svc", "mixed"});
}

TEST_F(ServiceLbTest, DeleteWaitsForTheBalancerAndClassedServicesAreLeftAlone) {
  ok({"apply", "-f", "-"},
     service("classy", "[{name: http, port: 80}]", "  loadBalancerClass: example.com/other\n"));
  ok({"apply", "-f", "-"}, service("gone", "[{name: http, port: 80}]"));
  std::string address = waitIngress("gone");
  // The classed Service was queued first and got nothing of ours.
  json classy = getJson({"get", "svc", "classy"});
  EXPECT_FALSE(classy["metadata"].contains("finalizers")) << classy.dump();
  EXPECT_TRUE(classy["status"]["loadBalancer"].value("ingress", json::array()).empty()) << classy.dump();
  EXPECT_NE(ok({"get", "svc", "classy"}).find("<pending>"), std::string::npos);
  EXPECT_NE(k({"get", "loadbalancer", "default-classy"}).exit_code, 0);

  auto r = k({"delete", "svc", "gone", "--wait", "--timeout=60s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(k({"get", "svc", "gone"}).exit_code, 0);
  EXPECT_NE(k({"get", "loadbalancer", "default-gone"}).exit_code, 0) << "the balancer went before the Service";
  std::string lbs = ok({"get", "loadbalancers"});
  EXPECT_EQ(lbs.find(address), std::string::npos) << lbs;
  ok({"delete", "svc", "classy"});
}

}  // namespace
}  // namespace berth::e2e
