// End-to-end: the NodeGroup controller in `berth server --cloud-provider simulated` (each
// instance a `berth agent --runtime simulated --nodes 1` process named after the instance id),
// driven by the real kubectl: nodes join with the group's labels balanced over three zones,
// `kubectl get nodegroups` shows desired/ready, `kubectl scale` grows and shrinks the group
// (draining by evictions), an instance-type change rolls every instance, a spot interruption
// is replaced and drained, a capacity shortage falls back to another type and status names
// the pool, a crashed instance is replaced, deletion terminates everything; a self-managed
// group counts nodes that joined by themselves and never terminates them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include <signal.h>

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

class NodeGroupsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = new std::string(makeTempDir("ngcloud"));
    server_ = new Server({"--cloud-provider", "simulated", "--cluster-name", shortName(),
                          "--cloud-state-dir", *state_});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
  }
  static void TearDownTestSuite() {
    server_->stop();  // stops the simulated agents with it
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
  // kubectl wait on a JSONPath of a node group.
  void waitGroup(const std::string& name, const std::string& path, const std::string& value,
                 int seconds = 60) {
    auto r = k({"wait", "nodegroup/" + name, "--for=jsonpath={" + path + "}=" + value,
                "--timeout=" + std::to_string(seconds) + "s"});
    ASSERT_EQ(r.exit_code, 0) << name << " " << path << " never became " << value << ": " << r.err
                              << "\n" << k({"get", "nodegroup", name, "-o", "yaml"}).out;
  }
  void waitGroupKind(const std::string& obj, const std::string& path, const std::string& value) {
    auto r = k({"wait", obj, "--for=jsonpath={" + path + "}=" + value, "--timeout=60s"});
    ASSERT_EQ(r.exit_code, 0) << obj << " " << path << " never became " << value << ": " << r.err;
  }
  // Watches the group's nodes until exactly n exist and all are Ready (status fields such as
  // readyReplicas may still show the count from before a replacement).
  bool waitNodes(const std::string& group, size_t n, std::string* seen) {
    Child w(server_->kubectlArgv({"get", "nodes", "-l", "eks.amazonaws.com/nodegroup=" + group, "-w",
                                  "--output-watch-events", "-o",
                                  "jsonpath={.type} {.object.metadata.name} "
                                  "{.object.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}"}),
            server_->kubectlEnv());
    std::map<std::string, std::string> ready;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    std::string line;
    while (std::chrono::steady_clock::now() < deadline && w.readLine(&line, std::chrono::seconds(10))) {
      *seen += line + "\n";
      std::istringstream in(line);
      std::string type, name, status;
      in >> type >> name >> status;
      if (type == "DELETED") ready.erase(name);
      else ready[name] = status;
      size_t up = 0;
      for (const auto& [_, st] : ready) up += st == "True";
      if (ready.size() == n && up == n) return true;
    }
    return false;
  }
  json nodesOf(const std::string& group) {
    return json::parse(ok({"get", "nodes", "-l", "eks.amazonaws.com/nodegroup=" + group, "-o", "json"}))["items"];
  }
  static void writeFaults(const json& faults) {
    std::ofstream(*state_ + "/faults.json.tmp") << faults.dump();
    std::filesystem::rename(*state_ + "/faults.json.tmp", *state_ + "/faults.json");
  }

  static Server* server_;
  static std::string* state_;
};

Server* NodeGroupsTest::server_ = nullptr;
std::string* NodeGroupsTest::state_ = nullptr;

const char* kGroup = R"(apiVersion: berth.dev/v1alpha1
kind: NodeGroup
metadata: {name: web}
spec:
  instanceTypes: [m5.large]
  availabilityZones: [local-1a, local-1b, local-1c]
  scaling: {minSize: 0, desiredSize: 3, maxSize: 6}
  updateConfig: {maxUnavailable: 1}
  labels: {team: web}
)";

const char* kApp = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: c, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: app, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: app}}
)";

TEST_F(NodeGroupsTest, ManagedGroupScalesRollsAndDeletes) {
  ok({"apply", "-f", "-"}, kGroup);
  waitGroup("web", ".status.readyReplicas", "3");
  json nodes = nodesOf("web");
  ASSERT_EQ(nodes.size(), 3u);
  std::set<std::string> zones;
  for (const json& n : nodes) {
    const json& l = n["metadata"]["labels"];
    EXPECT_EQ(l.value("eks.amazonaws.com/capacityType", ""), "ON_DEMAND");
    EXPECT_EQ(l.value("karpenter.sh/capacity-type", ""), "on-demand");
    EXPECT_EQ(l.value("node.kubernetes.io/instance-type", ""), "m5.large");
    EXPECT_EQ(l.value("team", ""), "web");
    EXPECT_EQ(n["metadata"]["name"].get<std::string>().rfind("i-", 0), 0u);
    zones.insert(l.value("topology.kubernetes.io/zone", ""));
  }
  EXPECT_EQ(zones.size(), 3u) << "three instances are balanced over three zones";
  waitGroup("web", ".status.phase", "Active");
  std::string table = ok({"get", "nodegroups"});
  EXPECT_NE(table.find("3/3"), std::string::npos) << table;
  EXPECT_NE(table.find("Active"), std::string::npos) << table;

  // Scale out through the scale subresource: 5 = 2 + 2 + 1 over the zones.
  ok({"scale", "nodegroup", "web", "--replicas=5"});
  waitGroup("web", ".status.readyReplicas", "5");
  std::map<std::string, int> perZone;
  for (const json& n : nodesOf("web")) perZone[n["metadata"]["labels"].value("topology.kubernetes.io/zone", "")]++;
  for (const auto& [z, c] : perZone) EXPECT_TRUE(c == 1 || c == 2) << z << " has " << c;

  // Scale in to 2: drained and terminated; their nodes go.
  ok({"scale", "nodegroup", "web", "--replicas=2"});
  waitGroup("web", ".status.replicas", "2");
  waitGroup("web", ".status.readyReplicas", "2");
  EXPECT_EQ(nodesOf("web").size(), 2u);

  // A workload with a PDB, then a rolling update to another instance type.
  ok({"apply", "-f", "-"}, kApp);
  ASSERT_EQ(k({"rollout", "status", "deployment/app", "--timeout=60s"}).exit_code, 0);
  ok({"patch", "nodegroup", "web", "--type=merge", "-p", R"({"spec":{"instanceTypes":["c5.large"]}})"});
  waitGroup("web", ".status.conditions[?(@.type==\"Updating\")].status", "False", 120);
  waitGroup("web", ".status.readyReplicas", "2");
  nodes = nodesOf("web");
  ASSERT_EQ(nodes.size(), 2u);
  std::set<std::string> names;
  for (const json& n : nodes) {
    EXPECT_EQ(n["metadata"]["labels"].value("node.kubernetes.io/instance-type", ""), "c5.large");
    names.insert(n["metadata"]["name"].get<std::string>());
  }
  // The app's pods were moved by evictions onto the new nodes and are running again.
  ASSERT_EQ(k({"rollout", "status", "deployment/app", "--timeout=60s"}).exit_code, 0);
  json pods = json::parse(ok({"get", "pods", "-l", "app=app", "-o", "json"}))["items"];
  for (const json& p : pods) {
    if (p["metadata"].contains("deletionTimestamp")) continue;
    EXPECT_TRUE(names.count(p["spec"].value("nodeName", ""))) << "pod on an old node";
  }
  std::string events = ok({"get", "events", "--field-selector", "involvedObject.name=web", "-o",
                           "custom-columns=REASON:.reason", "--no-headers"});
  EXPECT_NE(events.find("RollingUpdate"), std::string::npos) << events;
  EXPECT_NE(events.find("Launched"), std::string::npos) << events;

  // A crashed instance is replaced.
  std::string victim = *names.begin();
  writeFaults({{"crash", {victim}}});
  ASSERT_EQ(k({"wait", "node/" + victim, "--for=delete", "--timeout=60s"}).exit_code, 0);
  waitGroup("web", ".status.readyReplicas", "2");
  writeFaults(json::object());
  events = ok({"get", "events", "--field-selector", "involvedObject.name=web,reason=InstanceFailed",
               "-o", "custom-columns=MSG:.message", "--no-headers"});
  EXPECT_NE(events.find("Server.InternalError"), std::string::npos) << events;

  ok({"delete", "deployment", "app"});
  ok({"delete", "pdb", "app"});
  // Deleting the group drains and terminates its instances before the object goes.
  ASSERT_EQ(k({"delete", "nodegroup", "web", "--timeout=90s"}).exit_code, 0);
  EXPECT_EQ(nodesOf("web").size(), 0u);
}

const char* kSpotGroup = R"(apiVersion: berth.dev/v1alpha1
kind: NodeGroup
metadata: {name: batch}
spec:
  spot: true
  instanceTypes: [c5.large, c6i.large]
  availabilityZones: [local-1a, local-1b, local-1c]
  scaling: {minSize: 0, desiredSize: 2, maxSize: 4}
)";

TEST_F(NodeGroupsTest, SpotCapacityFallbackAndInterruption) {
  // No spot c5.large anywhere: the group falls back to c6i.large and says which pools it skips.
  json ice = json::array();
  for (const char* z : {"local-1a", "local-1b", "local-1c"}) {
    ice.push_back({{"instanceType", "c5.large"}, {"zone", z}, {"capacityType", "spot"}});
  }
  writeFaults({{"insufficientCapacity", ice}});
  ok({"apply", "-f", "-"}, kSpotGroup);
  waitGroup("batch", ".status.readyReplicas", "2");
  json nodes = nodesOf("batch");
  ASSERT_EQ(nodes.size(), 2u);
  for (const json& n : nodes) {
    EXPECT_EQ(n["metadata"]["labels"].value("node.kubernetes.io/instance-type", ""), "c6i.large");
    EXPECT_EQ(n["metadata"]["labels"].value("eks.amazonaws.com/capacityType", ""), "SPOT");
    EXPECT_EQ(n["metadata"]["labels"].value("karpenter.sh/capacity-type", ""), "spot");
  }
  json ng = json::parse(ok({"get", "nodegroup", "batch", "-o", "json"}));
  std::set<std::string> pools;
  for (const json& p : ng["status"]["unavailablePools"]) {
    pools.insert(p.value("instanceType", "") + "/" + p.value("zone", "") + "/" + p.value("capacityType", ""));
    EXPECT_FALSE(p.value("until", "").empty());
  }
  EXPECT_TRUE(pools.count("c5.large/local-1a/SPOT")) << ng["status"].dump();
  std::string events = ok({"get", "events", "--field-selector",
                           "involvedObject.name=batch,reason=InsufficientCapacity", "-o",
                           "custom-columns=MSG:.message", "--no-headers"});
  EXPECT_NE(events.find("c5.large/local-1a/spot"), std::string::npos) << events;

  // A spot interruption notice: a replacement launches, the node is tainted and drained, and
  // the instance goes.
  std::string victim = nodes[0]["metadata"]["name"];
  writeFaults({{"insufficientCapacity", ice}, {"spotInterruption", {victim}}});
  ASSERT_EQ(k({"wait", "node/" + victim, "--for=delete", "--timeout=60s"}).exit_code, 0)
      << k({"get", "nodegroup", "batch", "-o", "yaml"}).out;
  std::string seen;
  ASSERT_TRUE(waitNodes("batch", 2, &seen)) << seen;
  waitGroup("batch", ".status.readyReplicas", "2");
  nodes = nodesOf("batch");
  EXPECT_EQ(nodes.size(), 2u);
  for (const json& n : nodes) EXPECT_NE(n["metadata"]["name"], victim);
  events = ok({"get", "events", "--field-selector", "involvedObject.name=batch", "-o",
               "custom-columns=REASON:.reason", "--no-headers"});
  EXPECT_NE(events.find("SpotInterrupted"), std::string::npos) << events;
  writeFaults(json::object());
  ASSERT_EQ(k({"delete", "nodegroup", "batch", "--timeout=90s"}).exit_code, 0);
}

TEST_F(NodeGroupsTest, SelfManagedGroupCountsJoinedNodesAndNeverTerminatesThem) {
  ok({"apply", "-f", "-"}, R"(apiVersion: berth.dev/v1alpha1
kind: NodeGroup
metadata: {name: own}
spec:
  type: self-managed
  scaling: {minSize: 0, desiredSize: 1, maxSize: 2}
)");
  Child agent({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime",
               "simulated", "--nodes", "1", "--node-name", "own-node", "--kubelet-port", "0",
               "--labels", "eks.amazonaws.com/nodegroup=own", "--root-dir",
               *state_ + "/own-node"});
  waitGroup("own", ".status.readyReplicas", "1");
  waitGroup("own", ".status.replicas", "1");
  ASSERT_EQ(k({"delete", "nodegroup", "own", "--timeout=30s"}).exit_code, 0);
  EXPECT_EQ(k({"get", "node", "own-node"}).exit_code, 0) << "a node Berth did not launch stays";
  agent.kill(SIGTERM);
  agent.wait();
}

TEST_F(NodeGroupsTest, FargatePodGetsANodeOfItsOwn) {
  ok({"create", "namespace", "serverless"});
  ok({"apply", "-f", "-"}, R"(apiVersion: berth.dev/v1alpha1
kind: FargateProfile
metadata: {name: fp}
spec:
  selectors: [{namespace: serverless, labels: {run: fargate}}]
)");
  waitGroupKind("fargateprofile/fp", ".status.phase", "ACTIVE");
  ok({"apply", "-f", "-"}, R"(apiVersion: v1
kind: Pod
metadata: {name: job, namespace: serverless, labels: {run: fargate}}
spec:
  containers: [{name: c, image: nginx, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: serverless}
spec:
  containers: [{name: c, image: nginx}]
)");
  auto r = k({"wait", "-n", "serverless", "pod/job", "--for=condition=Ready", "--timeout=60s"});
  ASSERT_EQ(r.exit_code, 0) << r.err << k({"get", "pods", "-n", "serverless", "-o", "yaml"}).out;
  json pod = json::parse(ok({"get", "-n", "serverless", "pod/job", "-o", "json"}));
  EXPECT_EQ(pod["spec"].value("schedulerName", ""), "fargate-scheduler");
  EXPECT_EQ(pod["metadata"]["labels"].value("eks.amazonaws.com/fargate-profile", ""), "fp");
  std::string nodeName = pod["spec"].value("nodeName", "");
  ASSERT_FALSE(nodeName.empty());
  EXPECT_EQ(nodeName.rfind("fargate-serverless-job-", 0), 0u) << nodeName;
  json node = json::parse(ok({"get", "node", nodeName, "-o", "json"}));
  EXPECT_EQ(node["metadata"]["labels"].value("eks.amazonaws.com/compute-type", ""), "fargate");
  EXPECT_EQ(node["metadata"]["labels"].value("eks.amazonaws.com/fargate-profile", ""), "fp");
  EXPECT_FALSE(node["metadata"]["labels"].contains("eks.amazonaws.com/nodegroup"));
  bool tainted = false;
  for (const json& t : node["spec"].value("taints", json::array())) {
    if (t.value("key", "") == "eks.amazonaws.com/compute-type" && t.value("effect", "") == "NoSchedule") tainted = true;
  }
  EXPECT_TRUE(tainted) << node["spec"].dump();
  // A pod the profile does not select is left to the default scheduler.
  json plain = json::parse(ok({"get", "-n", "serverless", "pod/plain", "-o", "json"}));
  EXPECT_EQ(plain["spec"].value("schedulerName", ""), "default-scheduler");
  // The node lives as long as its pod.
  ok({"delete", "-n", "serverless", "pod/job", "--wait=false"});
  r = k({"wait", "node/" + nodeName, "--for=delete", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ok({"delete", "namespace", "serverless", "--wait=false"});
}

}  // namespace
}  // namespace berth::e2e
