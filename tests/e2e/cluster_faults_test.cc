// The node-group user flows on the local cloud, end to end as a user runs them (root): `berth
// cluster create -f cluster.yaml --node-runtime simulated` with an on-demand group, a tainted
// spot group and a Fargate profile; the instance ids users see (node names, providerIDs,
// NodeGroup status) are the ones `berth cloud` lists and injects into; `berth cloud inject`
// errors name what is unknown; an insufficient-capacity fault makes a scale-up launch from
// another pool (status and events name the pool); a spot interruption notice gets a
// replacement, a tainted and drained node, the instance gone and the pods elsewhere; a crashed
// instance is replaced; `kubectl scale nodegroup`; `kubectl apply` of a changed group rolls
// it within maxUnavailable; a Fargate pod gets a node of its own. Driven with the real kubectl.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::seconds;

std::string shortName() {
  std::mt19937 rng{std::random_device{}()};
  std::string s = "t";
  for (int i = 0; i < 5; ++i) s += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
  return s;
}

struct Cluster {
  std::string dir, name, cidr;
  std::vector<std::string> env;
  bool created = false;
};
Cluster* g = nullptr;

CmdResult berth(const std::vector<std::string>& args, seconds timeout = seconds(180)) {
  std::vector<std::string> argv = {berthBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, "", g->env, timeout);
}
CmdResult kubectl(const std::vector<std::string>& args, const std::string& input = "",
                  seconds timeout = seconds(60)) {
  std::vector<std::string> argv = {"kubectl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, g->env, timeout);
}
json getJson(const std::vector<std::string>& args) {
  std::vector<std::string> a = args;
  a.insert(a.end(), {"-o", "json"});
  CmdResult r = kubectl(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_object()) << "kubectl " << args[1] << " printed: " << r.out.substr(0, 300);
  return j.is_object() ? j : json::object();
}
json nodesOf(const std::string& group) {
  return getJson({"get", "nodes", "-l", "eks.amazonaws.com/nodegroup=" + group}).value("items", json::array());
}
bool isReady(const json& node) {
  if (!node.contains("status") || !node["status"].is_object()) return false;
  for (const json& c : node["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}
// The cloud's own listing: instance id -> the rest of its line.
std::map<std::string, std::string> cloudInstances() {
  std::map<std::string, std::string> out;
  std::istringstream in(berth({"cloud", "instances", "--cluster", g->name}).out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("i-", 0) == 0) out[line.substr(0, line.find(' '))] = line;
  }
  return out;
}
void waitGroup(const std::string& group, const std::string& path, const std::string& value,
               int secs = 120) {
  CmdResult r = kubectl({"wait", "nodegroup/" + group, "--for=jsonpath={" + path + "}=" + value,
                         "--timeout=" + std::to_string(secs) + "s"},
                        "", seconds(secs + 10));
  ASSERT_EQ(r.exit_code, 0) << group << " " << path << " never became " << value << ": " << r.err
                            << "\n" << kubectl({"get", "nodegroup", group, "-o", "yaml"}).out;
}

// Watches the group's nodes until `done` says the set is as wanted; `each` sees every state.
// A watch that kubectl ends (an expired resourceVersion, an ERROR event) is started again with
// a fresh list. Returns false at the deadline.
using NodeSet = std::map<std::string, json>;
bool watchNodes(const std::string& group, int secs, const std::function<bool(const NodeSet&)>& done,
                const std::function<void(const NodeSet&)>& each = nullptr) {
  auto deadline = std::chrono::steady_clock::now() + seconds(secs);
  while (std::chrono::steady_clock::now() < deadline) {
    Child w({"kubectl", "get", "nodes", "-l", "eks.amazonaws.com/nodegroup=" + group, "-w",
             "--output-watch-events", "-o", "json"},
            g->env);
    NodeSet nodes;
    std::string line;
    bool ended = false;
    while (!ended && std::chrono::steady_clock::now() < deadline) {
      auto asked = std::chrono::steady_clock::now();
      if (!w.readLine(&line, std::chrono::milliseconds(2000))) {
        if (done(nodes)) return true;
        // A timeout takes the whole 2 s; kubectl's end (EOF) comes back at once.
        ended = std::chrono::steady_clock::now() - asked < std::chrono::milliseconds(1500);
        continue;
      }
      json ev = json::parse(line, nullptr, false);  // one event per line
      if (!ev.is_object() || !ev.contains("object") || !ev["object"].is_object()) continue;
      if (ev.value("type", "") == "ERROR") break;
      if (ev["object"].value("kind", "") != "Node") continue;
      std::string name = ev["object"]["metadata"].value("name", "");
      if (ev.value("type", "") == "DELETED") nodes.erase(name);
      else nodes[name] = ev["object"];
      if (each) each(nodes);
      if (done(nodes)) return true;
    }
    w.kill(SIGTERM);
    w.wait();
  }
  return false;
}

class ClusterFaultsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    g = new Cluster;
    char tmpl[] = "/tmp/berth-e2e-faults-XXXXXX";
    g->dir = mkdtemp(tmpl);
    g->name = shortName();
    std::mt19937 rng{std::random_device{}()};
    g->cidr = "10." + std::to_string(100 + rng() % 100) + ".0.0/16";
    g->env = {"BERTH_STATE_DIR=" + g->dir + "/state", "KUBECONFIG=" + g->dir + "/kube/config",
              "HOME=" + g->dir};
    std::ofstream(g->dir + "/cluster.yaml")
        << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << g->name
        << "}\nvpc: {cidr: " << g->cidr << ", nat: {gateway: Single}}\n"
        << "managedNodeGroups:\n"
        << "  - name: od\n    instanceType: t3.small\n    desiredCapacity: 2\n    minSize: 0\n"
           "    maxSize: 4\n    labels: {role: od}\n    updateConfig: {maxUnavailable: 1}\n"
        << "    preBootstrapCommands: ['echo ran >> " << g->dir << "/prebootstrap']\n"
        << "  - name: sp\n    spot: true\n    instanceTypes: [c5.large, c6i.large]\n"
           "    desiredCapacity: 2\n    minSize: 0\n    maxSize: 5\n"
           "    taints: [{key: spot, value: \"yes\", effect: NoSchedule}]\n"
        << "fargateProfiles:\n  - {name: fp, selectors: [{namespace: serverless}]}\n";
    CmdResult c = berth({"cluster", "create", "-f", g->dir + "/cluster.yaml", "--node-runtime",
                         "simulated", "--timeout", "4m"},
                        seconds(300));
    g->created = c.exit_code == 0;
    if (!g->created) ADD_FAILURE() << "cluster create failed:\n" << c.out << c.err;
  }
  static void TearDownTestSuite() {
    if (!g) return;
    CmdResult d = berth({"cluster", "delete", g->name}, seconds(180));
    EXPECT_EQ(d.exit_code, 0) << d.out << d.err;
    EXPECT_EQ(run({"sh", "-c", "ip netns list | grep -c " + g->name}).out, "0\n");
    EXPECT_EQ(run({"pgrep", "-f", "-c", g->dir + "/state"}).out, "0\n");
    fs::remove_all(g->dir);
    delete g;
    g = nullptr;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    ASSERT_TRUE(g && g->created) << "no cluster";
  }
};

TEST_F(ClusterFaultsTest, NodesCarryTheInstanceIdsLabelsAndTaintsUsersInjectInto) {
  std::map<std::string, std::string> cloud = cloudInstances();
  for (const char* group : {"od", "sp"}) {
    json nodes = nodesOf(group);
    ASSERT_EQ(nodes.size(), 2u) << group;
    json ng = getJson({"get", "nodegroup", group});
    std::set<std::string> status_ids;
    for (const json& i : ng["status"].value("instances", json::array())) status_ids.insert(i.value("id", ""));
    for (const json& n : nodes) {
      std::string name = n["metadata"]["name"];
      const json& labels = n["metadata"]["labels"];
      std::string zone = labels.value("topology.kubernetes.io/zone", "");
      // One id everywhere: node name, providerID, NodeGroup status, `berth cloud instances`.
      EXPECT_EQ(n["spec"].value("providerID", ""), "local:///" + zone + "/" + name);
      EXPECT_TRUE(status_ids.count(name)) << name << " not in " << ng["status"].dump();
      ASSERT_TRUE(cloud.count(name)) << name << " not listed by berth cloud instances";
      EXPECT_NE(cloud[name].find(zone), std::string::npos) << cloud[name];
      EXPECT_EQ(labels.value("eks.amazonaws.com/nodegroup", ""), group);
      bool spot = std::string(group) == "sp";
      EXPECT_EQ(labels.value("eks.amazonaws.com/capacityType", ""), spot ? "SPOT" : "ON_DEMAND");
      EXPECT_EQ(labels.value("karpenter.sh/capacity-type", ""), spot ? "spot" : "on-demand");
      bool tainted = false;
      for (const json& t : n["spec"].value("taints", json::array())) {
        tainted |= t.value("key", "") == "spot" && t.value("value", "") == "yes" &&
                   t.value("effect", "") == "NoSchedule";
      }
      EXPECT_EQ(tainted, spot) << group << " node " << name << " taints " << n["spec"].dump();
      if (!spot) {
        EXPECT_EQ(labels.value("role", ""), "od");
        EXPECT_EQ(labels.value("node.kubernetes.io/instance-type", ""), "t3.small");
      }
    }
  }
}

TEST_F(ClusterFaultsTest, PreBootstrapCommandsRunOnEveryInstanceAndAreInTheUserData) {
  // Each of the group's instances ran the command (a shell part before its NodeConfig).
  std::ifstream in(g->dir + "/prebootstrap");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t runs = 0;
  for (size_t at = all.find("ran"); at != std::string::npos; at = all.find("ran", at + 1)) ++runs;
  EXPECT_GE(runs, 2u) << "od's two instances ran preBootstrapCommands " << runs << " times";
  CmdResult ud = berth({"nodegroup", "user-data", "od"});
  ASSERT_EQ(ud.exit_code, 0) << ud.err;
  size_t shell = ud.out.find("Content-Type: text/x-shellscript");
  size_t cmd = ud.out.find("echo ran >> " + g->dir + "/prebootstrap");
  size_t config = ud.out.find("Content-Type: application/node.eks.aws");
  ASSERT_NE(cmd, std::string::npos) << ud.out;
  EXPECT_LT(shell, cmd);
  EXPECT_LT(cmd, config) << "the command runs before the NodeConfig";
}

TEST_F(ClusterFaultsTest, InjectErrorsNameWhatIsUnknown) {
  std::string od = nodesOf("od").at(0)["metadata"]["name"];
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  std::vector<Case> cases = {
      {{"cloud", "inject", "spot-interruption", "--cluster", "nosuch", od}, "no cluster \"nosuch\""},
      {{"cloud", "inject", "spot-interruption", "--cluster", g->name, "i-0123456789abcdef0"},
       "no instance i-0123456789abcdef0"},
      {{"cloud", "inject", "instance-crash", "--cluster", g->name, "i-0123456789abcdef0"},
       "no instance i-0123456789abcdef0"},
      {{"cloud", "inject", "spot-interruption", "--cluster", g->name, od}, "on-demand"},
      {{"cloud", "inject", "insufficient-capacity", "--cluster", g->name, "c5.larg", "local-1a", "spot"},
       "unknown instance type \"c5.larg\""},
      {{"cloud", "inject", "insufficient-capacity", "--cluster", g->name, "c5.large", "local-9z", "spot"},
       "unknown zone \"local-9z\""},
      {{"cloud", "inject", "insufficient-capacity", "--cluster", g->name, "c5.large", "local-1a", "spotty"},
       "spot or on-demand"},
  };
  // The API server checks instance types against the catalogue too, naming the field.
  CmdResult bad = kubectl({"patch", "nodegroup", "sp", "--type=merge", "-p",
                           R"({"spec":{"instanceTypes":["c5.large","c6i.larg"]}})"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("spec.instanceTypes[1]"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("c6i.large"), std::string::npos) << bad.err;
  for (const Case& c : cases) {
    CmdResult r = berth(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args[2];
    EXPECT_NE(r.err.find(c.want), std::string::npos) << c.args[2] << ": " << r.err;
  }
  EXPECT_EQ(kubectl({"get", "nodegroup", "sp", "-o", "jsonpath={.status.unavailablePools}"}).out, "[]")
      << "a refused injection changed nothing";
}

TEST_F(ClusterFaultsTest, CapacityShortageScaleUpLaunchesFromAnotherPool) {
  // The zone without a spot node: its first launch would be the group's first type.
  std::set<std::string> zones = {"local-1a", "local-1b", "local-1c"};
  std::set<std::string> before;
  for (const json& n : nodesOf("sp")) {
    zones.erase(n["metadata"]["labels"].value("topology.kubernetes.io/zone", ""));
    before.insert(n["metadata"]["name"]);
  }
  ASSERT_EQ(zones.size(), 1u);
  std::string zone = *zones.begin();
  CmdResult ice = berth({"cloud", "inject", "insufficient-capacity", "--cluster", g->name,
                         "c5.large", zone, "spot", "--for", "2m"});
  ASSERT_EQ(ice.exit_code, 0) << ice.err;
  ASSERT_EQ(kubectl({"scale", "nodegroup", "sp", "--replicas=3"}).exit_code, 0);
  waitGroup("sp", ".status.readyReplicas", "3");
  json fresh;
  for (const json& n : nodesOf("sp")) {
    if (!before.count(n["metadata"]["name"])) fresh = n;
  }
  ASSERT_FALSE(fresh.is_null());
  EXPECT_EQ(fresh["metadata"]["labels"].value("topology.kubernetes.io/zone", ""), zone);
  EXPECT_EQ(fresh["metadata"]["labels"].value("node.kubernetes.io/instance-type", ""), "c6i.large");
  json ng = getJson({"get", "nodegroup", "sp"});
  bool remembered = false;
  for (const json& p : ng["status"].value("unavailablePools", json::array())) {
    remembered |= p.value("instanceType", "") == "c5.large" && p.value("zone", "") == zone &&
                  p.value("capacityType", "") == "SPOT";
  }
  EXPECT_TRUE(remembered) << ng["status"].dump();
  std::string events = kubectl({"get", "events", "--field-selector",
                                "involvedObject.name=sp,reason=InsufficientCapacity", "-o",
                                "custom-columns=MSG:.message", "--no-headers"}).out;
  EXPECT_NE(events.find("c5.large/" + zone + "/spot"), std::string::npos) << events;
  EXPECT_EQ(berth({"cloud", "inject", "clear", "--cluster", g->name}).exit_code, 0);
}

TEST_F(ClusterFaultsTest, SpotInterruptionReplacesDrainsAndMovesPods) {
  ASSERT_EQ(kubectl({"apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: batch, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: batch}}
  template:
    metadata: {labels: {app: batch}}
    spec:
      nodeSelector: {eks.amazonaws.com/nodegroup: sp}
      tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]
      containers: [{name: c, image: busybox}]
)").exit_code, 0);
  ASSERT_EQ(kubectl({"rollout", "status", "deployment/batch", "--timeout=90s"}, "", seconds(100)).exit_code, 0);
  json pods = getJson({"get", "pods", "-l", "app=batch"}).value("items", json::array());
  ASSERT_FALSE(pods.empty());
  std::string victim = pods[0]["spec"].value("nodeName", "");
  ASSERT_EQ(victim.rfind("i-", 0), 0u) << victim;
  size_t nodes_before = nodesOf("sp").size();

  CmdResult inj = berth({"cloud", "inject", "spot-interruption", "--cluster", g->name, victim});
  ASSERT_EQ(inj.exit_code, 0) << inj.err;
  EXPECT_NE(inj.out.find(victim), std::string::npos) << inj.out;

  // Seen on the way: the victim tainted and cordoned; at the end it is gone and as many Ready
  // nodes as before serve the group.
  bool tainted = false;
  std::set<std::string> seen;
  bool done = watchNodes(
      "sp", 150,
      [&](const NodeSet& nodes) {
        if (nodes.count(victim)) return false;
        size_t ready = 0;
        for (const auto& [_, n] : nodes) ready += isReady(n);
        return ready == nodes_before && nodes.size() == nodes_before;
      },
      [&](const NodeSet& nodes) {
        for (const auto& [name, n] : nodes) seen.insert(name);
        auto it = nodes.find(victim);
        if (it == nodes.end()) return;
        for (const json& t : it->second["spec"].value("taints", json::array())) {
          tainted |= t.value("key", "") == "karpenter.sh/disrupted";
        }
      });
  ASSERT_TRUE(done) << kubectl({"get", "nodegroup", "sp", "-o", "yaml"}).out;
  EXPECT_TRUE(tainted) << "the interrupted node was never tainted karpenter.sh/disrupted";
  EXPECT_GT(seen.size(), nodes_before) << "no replacement was launched";

  // The instance itself went, well before its two minutes were up.
  std::map<std::string, std::string> cloud = cloudInstances();
  if (cloud.count(victim)) EXPECT_NE(cloud[victim].find("terminated"), std::string::npos) << cloud[victim];
  ASSERT_EQ(kubectl({"rollout", "status", "deployment/batch", "--timeout=90s"}, "", seconds(100)).exit_code, 0);
  for (const json& p : getJson({"get", "pods", "-l", "app=batch"}).value("items", json::array())) {
    if (p["metadata"].contains("deletionTimestamp")) continue;
    EXPECT_NE(p["spec"].value("nodeName", ""), victim);
    EXPECT_EQ(p["status"].value("phase", ""), "Running");
  }
  std::string events = kubectl({"get", "events", "--field-selector", "involvedObject.name=sp", "-o",
                                "custom-columns=REASON:.reason,MSG:.message", "--no-headers"}).out;
  EXPECT_NE(events.find("SpotInterrupted"), std::string::npos) << events;
  kubectl({"delete", "deployment", "batch"});
}

TEST_F(ClusterFaultsTest, CrashedInstanceIsReplacedAndScaleChangesTheGroup) {
  std::string victim = nodesOf("od").at(0)["metadata"]["name"];
  CmdResult crash = berth({"cloud", "inject", "instance-crash", "--cluster", g->name, victim});
  ASSERT_EQ(crash.exit_code, 0) << crash.err;
  ASSERT_TRUE(watchNodes("od", 120, [&](const NodeSet& nodes) {
    size_t ready = 0;
    for (const auto& [_, n] : nodes) ready += isReady(n);
    return !nodes.count(victim) && ready == 2 && nodes.size() == 2;
  })) << kubectl({"get", "nodegroup", "od", "-o", "yaml"}).out;
  std::string events = kubectl({"get", "events", "--field-selector",
                                "involvedObject.name=od,reason=InstanceFailed", "-o",
                                "custom-columns=MSG:.message", "--no-headers"}).out;
  EXPECT_NE(events.find(victim), std::string::npos) << events;

  ASSERT_EQ(kubectl({"scale", "nodegroup", "od", "--replicas=3"}).exit_code, 0);
  waitGroup("od", ".status.readyReplicas", "3");
  EXPECT_EQ(nodesOf("od").size(), 3u);
  ASSERT_EQ(kubectl({"scale", "nodegroup", "od", "--replicas=2"}).exit_code, 0);
  waitGroup("od", ".status.replicas", "2");
  ASSERT_TRUE(watchNodes("od", 60, [](const NodeSet& nodes) { return nodes.size() == 2; }));
}

TEST_F(ClusterFaultsTest, AppliedChangeRollsTheGroupWithinMaxUnavailable) {
  json ng = getJson({"get", "nodegroup", "od"});
  int64_t desired = ng["spec"]["scaling"].value("desiredSize", 0);
  ASSERT_EQ(desired, 2);
  std::set<std::string> old;
  for (const json& n : nodesOf("od")) old.insert(n["metadata"]["name"]);
  json applied = {{"apiVersion", "berth.dev/v1alpha1"}, {"kind", "NodeGroup"},
                  {"metadata", {{"name", "od"}, {"labels", ng["metadata"].value("labels", json::object())}}},
                  {"spec", ng["spec"]}};
  applied["spec"]["instanceTypes"] = {"t3.medium"};
  applied["spec"]["labels"]["role"] = "od2";
  CmdResult a = kubectl({"apply", "-f", "-"}, applied.dump());
  ASSERT_EQ(a.exit_code, 0) << a.err;

  // Throughout the roll, at most maxUnavailable (1) of the desired 2 are out of service.
  size_t least_in_service = 99;
  bool done = watchNodes(
      "od", 240,
      [&](const NodeSet& nodes) {
        if (nodes.size() != 2) return false;
        for (const auto& [name, n] : nodes) {
          if (old.count(name) || !isReady(n)) return false;
        }
        return true;
      },
      [&](const NodeSet& nodes) {
        size_t in_service = 0;
        for (const auto& [_, n] : nodes) {
          in_service += isReady(n) && !n["spec"].value("unschedulable", false);
        }
        // Only count once the watch has listed every node it started with.
        if (nodes.size() >= 2) least_in_service = std::min(least_in_service, in_service);
      });
  ASSERT_TRUE(done) << kubectl({"get", "nodegroup", "od", "-o", "yaml"}).out;
  EXPECT_GE(least_in_service, 1u);
  for (const json& n : nodesOf("od")) {
    EXPECT_EQ(n["metadata"]["labels"].value("node.kubernetes.io/instance-type", ""), "t3.medium");
    EXPECT_EQ(n["metadata"]["labels"].value("role", ""), "od2");
  }
  waitGroup("od", ".status.conditions[?(@.type==\"Updating\")].status", "False");
  std::string events = kubectl({"get", "events", "--field-selector",
                                "involvedObject.name=od,reason=RollingUpdate", "-o",
                                "custom-columns=MSG:.message", "--no-headers"}).out;
  EXPECT_FALSE(events.empty());
}

TEST_F(ClusterFaultsTest, FargatePodGetsANodeOfItsOwn) {
  kubectl({"create", "namespace", "serverless"});
  ASSERT_EQ(kubectl({"apply", "-f", "-"}, R"(apiVersion: v1
kind: Pod
metadata: {name: job, namespace: serverless}
spec:
  containers: [{name: c, image: busybox, resources: {requests: {cpu: 250m, memory: 512Mi}}}]
)").exit_code, 0);
  CmdResult r = kubectl({"wait", "-n", "serverless", "pod/job", "--for=condition=Ready", "--timeout=120s"},
                        "", seconds(130));
  ASSERT_EQ(r.exit_code, 0) << r.err << kubectl({"get", "pods", "-n", "serverless", "-o", "yaml"}).out;
  json pod = getJson({"get", "-n", "serverless", "pod/job"});
  std::string node_name = pod["spec"].value("nodeName", "");
  ASSERT_FALSE(node_name.empty());
  EXPECT_EQ(node_name.rfind("fargate-serverless-job-", 0), 0u) << node_name;
  json node = getJson({"get", "node", node_name});
  EXPECT_EQ(node["metadata"]["labels"].value("eks.amazonaws.com/compute-type", ""), "fargate");
  bool tainted = false;
  for (const json& t : node["spec"].value("taints", json::array())) {
    tainted |= t.value("key", "") == "eks.amazonaws.com/compute-type" &&
               t.value("value", "") == "fargate" && t.value("effect", "") == "NoSchedule";
  }
  EXPECT_TRUE(tainted) << node["spec"].dump();
  EXPECT_EQ(node["spec"].value("providerID", "").rfind("local:///", 0), 0u) << node["spec"].dump();
  // The node is an instance of the cloud, and goes with its pod.
  kubectl({"delete", "-n", "serverless", "pod/job", "--wait=false"});
  r = kubectl({"wait", "node/" + node_name, "--for=delete", "--timeout=90s"}, "", seconds(100));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace berth::e2e
