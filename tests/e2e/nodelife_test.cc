// End-to-end: node health, taint-based eviction, PodDisruptionBudgets and kubectl drain, with
// the real kubectl against a real `berth server`. No node agent: the tests create Node and
// Lease objects themselves and play the agent's part (status and lease) with kubectl.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <set>
#include <string>

#include "common/time_util.h"
#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

std::string nowMicro() { return formatRfc3339Micro(std::chrono::system_clock::now()); }

// A Node as an agent registers it: Ready, with a fresh heartbeat.
std::string nodeYaml(const std::string& name, const std::string& zone) {
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", name}, {"labels", {{"topology.kubernetes.io/zone", zone},
                                                         {"kubernetes.io/hostname", name}}}}},
               {"status",
                {{"conditions",
                  {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                    {"message", "kubelet is posting ready status"},
                    {"lastHeartbeatTime", formatRfc3339(std::chrono::system_clock::now())},
                    {"lastTransitionTime", formatRfc3339(std::chrono::system_clock::now())}}}},
                 {"capacity", {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}}}}}};
  return node.dump();
}

std::string leaseJson(const std::string& node) {
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}}},
                {"spec", {{"holderIdentity", node}, {"leaseDurationSeconds", 40}, {"renewTime", nowMicro()}}}};
  return lease.dump();
}

// A pod already bound to `node`, labelled app=`app`, with `tolerations`. Grace period 0: with
// no agent to finish a graceful deletion, a deleted pod must go at once.
std::string podJson(const std::string& name, const std::string& node, const std::string& app,
                    const json& tolerations) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
              {"spec", {{"nodeName", node},
                        {"terminationGracePeriodSeconds", 0},
                        {"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}};
  if (!tolerations.is_null()) pod["spec"]["tolerations"] = tolerations;
  return pod.dump();
}

// A ReplicaSet whose pods land on `node` and tolerate any node trouble for ever.
std::string replicaSetJson(const std::string& name, int replicas, const std::string& node) {
  json tol = json::array({{{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"}, {"effect", "NoExecute"}},
                          {{"key", "node.kubernetes.io/not-ready"}, {"operator", "Exists"}, {"effect", "NoExecute"}}});
  json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata", {{"name", name}}},
             {"spec", {{"replicas", replicas},
                       {"selector", {{"matchLabels", {{"app", name}}}}},
                       {"template", {{"metadata", {{"labels", {{"app", name}}}}},
                                     {"spec", {{"nodeName", node},
                                               {"terminationGracePeriodSeconds", 0},
                                               {"tolerations", tol},
                                               {"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}}}}}};
  return rs.dump();
}

class NodeLifeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ns_ = "t-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (auto& c : ns_) c = static_cast<char>(std::tolower(c));
  }
  void startServer(const std::vector<std::string>& args) {
    server_ = std::make_unique<Server>(args);
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    ASSERT_EQ(server_->kubectl({"create", "namespace", ns_}).exit_code, 0);
  }
  void TearDown() override {
    if (server_) EXPECT_EQ(server_->stop(), 0) << "berth server did not shut down cleanly";
  }
  CmdResult k(std::vector<std::string> args, const std::string& input = "") {
    return server_->kubectl(args, input);
  }
  std::string ok(std::vector<std::string> args, const std::string& input = "") {
    auto r = k(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << (args.empty() ? "" : args[0]) << " failed: " << r.err;
    return r.out;
  }
  std::string okNs(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"-n", ns_});
    return ok(args, input);
  }
  // Plays the agent: Ready again with a new heartbeat, and a renewed lease.
  void heartbeat(const std::string& node) {
    std::string t = formatRfc3339(std::chrono::system_clock::now());
    json status = {{"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                                                {"message", "kubelet is posting ready status"},
                                                {"lastHeartbeatTime", t}, {"lastTransitionTime", t}}}}}}};
    ok({"patch", "node", node, "--subresource=status", "--type=merge", "-p", status.dump()});
    ok({"-n", "kube-node-lease", "patch", "lease", node, "--type=merge", "-p",
        json({{"spec", {{"renewTime", nowMicro()}}}}).dump()});
  }
  // Running and Ready, as an agent would report.
  void markRunningReady(const std::string& pod) {
    std::string t = formatRfc3339(std::chrono::system_clock::now());
    json status = {{"status", {{"phase", "Running"},
                               {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", t}}}}}}};
    okNs({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status.dump()});
  }
  std::string jsonpath(const std::string& what, const std::string& path, bool namespaced = true) {
    std::vector<std::string> args = {"get", what, "-o", "jsonpath=" + path};
    if (namespaced) args.insert(args.begin(), {"-n", ns_});
    return ok(args);
  }

  std::unique_ptr<Server> server_;
  std::string ns_;
};

// A node whose lease stops being renewed goes Unknown, is tainted unreachable, its pods are
// marked not ready and evicted after their tolerationSeconds (the ReplicaSet recreates them
// elsewhere); a heartbeat brings it back and removes the taints.
TEST_F(NodeLifeTest, ExpiredLeaseTaintsEvictsAndRecovers) {
  startServer({"--node-monitor-grace-period", "4s", "--default-not-ready-toleration-seconds", "77"});
  const std::string n1 = ns_ + "-n1", n2 = ns_ + "-n2";
  ok({"create", "-f", "-"}, nodeYaml(n1, "local-1a"));
  ok({"create", "-f", "-"}, nodeYaml(n2, "local-1b"));
  ok({"create", "-f", "-"}, leaseJson(n1));

  // Tolerates the unreachable taint for 20 s (long enough for the checks below on a loaded
  // machine); gets the default not-ready toleration (77 s).
  json tol = json::array({{{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"},
                           {"effect", "NoExecute"}, {"tolerationSeconds", 20}}});
  okNs({"create", "-f", "-"}, podJson("victim", n1, "evict", tol));
  json pod = json::parse(okNs({"get", "pod", "victim", "-o", "json"}));
  bool defaulted = false;
  for (const auto& t : pod["spec"]["tolerations"])
    if (t.value("key", "") == "node.kubernetes.io/not-ready")
      defaulted = t.value("tolerationSeconds", 0) == 77 && t.value("effect", "") == "NoExecute";
  EXPECT_TRUE(defaulted) << pod["spec"]["tolerations"].dump();
  markRunningReady("victim");
  // The ReplicaSet adopts the pod; its own pods go to n2.
  okNs({"create", "-f", "-"}, replicaSetJson("evict", 1, n2));
  okNs({"wait", "pod/victim", "--for=jsonpath={.metadata.ownerReferences[0].name}=evict", "--timeout=30s"});

  Child watch(server_->kubectlArgv({"-n", ns_, "get", "pods", "-l", "app=evict", "-w", "--no-headers",
                                    "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName"}),
              server_->kubectlEnv());
  // The node controller's events, as upstream records them.
  Child events(server_->kubectlArgv({"get", "events", "-A", "-w", "-o",
                                     "jsonpath={.reason}/{.involvedObject.kind}/"
                                     "{.involvedObject.name}{\"\\n\"}"}),
               server_->kubectlEnv());

  // No heartbeat: Unknown after the 4 s grace period, with upstream's reason and message.
  ok({"wait", "node/" + n1, "--for=condition=Ready=Unknown", "--timeout=30s"});
  EXPECT_EQ(jsonpath("node/" + n1, "{.status.conditions[?(@.type==\"Ready\")].reason}", false),
            "NodeStatusUnknown");
  EXPECT_EQ(jsonpath("node/" + n1, "{.status.conditions[?(@.type==\"Ready\")].message}", false),
            "Kubelet stopped posting node status.");
  ok({"wait", "node/" + n1,
      "--for=jsonpath={.spec.taints[?(@.effect==\"NoExecute\")].key}=node.kubernetes.io/unreachable",
      "--timeout=30s"});
  EXPECT_NE(ok({"get", "node", n1, "-o", "jsonpath={.spec.taints[*].effect}"}).find("NoSchedule"),
            std::string::npos);
  // The pod is marked not ready but, tolerating the taint for 20 s, not evicted yet.
  okNs({"wait", "pod/victim", "--for=condition=Ready=False", "--timeout=20s"});
  EXPECT_EQ(jsonpath("pod/victim", "{.metadata.name}"), "victim");
  // Then it is evicted, and the ReplicaSet puts a new pod on n2.
  okNs({"wait", "pod/victim", "--for=delete", "--timeout=60s"});
  std::string seen;
  EXPECT_TRUE(watch.waitFor(n2, std::chrono::seconds(30), &seen)) << seen;
  std::set<std::string> want = {"NodeNotReady/Node/" + n1, "NodeNotReady/Pod/victim",
                                "TaintManagerEviction/Pod/victim"};
  std::string line, lines;
  while (!want.empty() && events.readLine(&line, std::chrono::seconds(20))) {
    want.erase(line);
    lines += line + "\n";
  }
  EXPECT_TRUE(want.empty()) << "missing " << *want.begin() << " in events:\n" << lines;
  events.kill(SIGTERM);

  // The node comes back: Ready, and the taints are gone.
  Child taints(server_->kubectlArgv({"get", "node", n1, "-w", "-o",
                                     "jsonpath={.metadata.name}:{.spec.taints[*].key}:end{\"\\n\"}"}),
               server_->kubectlEnv());
  heartbeat(n1);
  EXPECT_TRUE(taints.waitFor(n1 + "::end", std::chrono::seconds(20), &seen)) << seen;
  watch.kill(SIGTERM);
  taints.kill(SIGTERM);
}

// A deleted node's pods are garbage-collected (upstream's pod GC): 40 s after the node went,
// the orphan is marked DisruptionTarget (DeletionByPodGC), failed and deleted, and its
// ReplicaSet replaces it on a node that exists.
TEST_F(NodeLifeTest, DeletedNodesPodsAreCollectedAndReplaced) {
  startServer({});
  const std::string n1 = ns_ + "-n1", n2 = ns_ + "-n2";
  ok({"create", "-f", "-"}, nodeYaml(n1, "local-1a"));
  ok({"create", "-f", "-"}, nodeYaml(n2, "local-1b"));
  okNs({"create", "-f", "-"}, podJson("orphan", n1, "gc", nullptr));
  markRunningReady("orphan");
  okNs({"create", "-f", "-"}, replicaSetJson("gc", 1, n2));
  okNs({"wait", "pod/orphan", "--for=jsonpath={.metadata.ownerReferences[0].name}=gc", "--timeout=30s"});

  Child marks(server_->kubectlArgv({"-n", ns_, "get", "pod", "orphan", "-w", "-o",
                                    "jsonpath={.status.phase}/{.status.conditions[?(@.type==\"DisruptionTarget\")].reason}{\"\\n\"}"}),
              server_->kubectlEnv());
  Child pods(server_->kubectlArgv({"-n", ns_, "get", "pods", "-l", "app=gc", "-w", "--no-headers",
                                   "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName"}),
             server_->kubectlEnv());
  ok({"delete", "node", n1});
  // Quarantined for 40 s, then gone.
  okNs({"wait", "pod/orphan", "--for=delete", "--timeout=120s"});
  std::string seen;
  EXPECT_TRUE(marks.waitFor("Failed/DeletionByPodGC", std::chrono::seconds(10), &seen)) << seen;
  EXPECT_TRUE(pods.waitFor(n2, std::chrono::seconds(30), &seen)) << seen;
  marks.kill(SIGTERM);
  pods.kill(SIGTERM);
}

// A node with no lease at all is judged by its Ready heartbeat; a pod without tolerations of
// its own keeps the defaults (300 s) and stays.
TEST_F(NodeLifeTest, NodeWithoutLeaseGoesUnknownAndDefaultTolerationKeepsPods) {
  startServer({"--node-monitor-grace-period", "3s"});
  const std::string n = ns_ + "-n";
  ok({"create", "-f", "-"}, nodeYaml(n, "local-1c"));
  okNs({"create", "-f", "-"}, podJson("stays", n, "stay", nullptr));
  ok({"wait", "node/" + n, "--for=condition=Ready=Unknown", "--timeout=30s"});
  ok({"wait", "node/" + n,
      "--for=jsonpath={.spec.taints[?(@.effect==\"NoExecute\")].key}=node.kubernetes.io/unreachable",
      "--timeout=30s"});
  EXPECT_EQ(jsonpath("pod/stays", "{.spec.tolerations[?(@.key==\"node.kubernetes.io/unreachable\")].tolerationSeconds}"),
            "300");
  EXPECT_EQ(jsonpath("pod/stays", "{.metadata.deletionTimestamp}"), "");
}

// kubectl cordon/uncordon and drain through the eviction API against a PodDisruptionBudget.
TEST_F(NodeLifeTest, DrainRespectsDisruptionBudget) {
  // Node health is not under test here: without nodelifecycle the test's nodes stay Ready.
  startServer({"--controllers", "garbagecollector,namespace,replicaset,disruption"});
  const std::string d1 = ns_ + "-d1", d2 = ns_ + "-d2";
  ok({"create", "-f", "-"}, nodeYaml(d1, "local-1a"));
  ok({"create", "-f", "-"}, nodeYaml(d2, "local-1b"));

  ok({"cordon", d1});
  EXPECT_EQ(jsonpath("node/" + d1, "{.spec.unschedulable}", false), "true");
  ok({"uncordon", d1});
  EXPECT_EQ(jsonpath("node/" + d1, "{.spec.unschedulable}", false), "");

  for (const char* p : {"web-a", "web-b"}) {
    okNs({"create", "-f", "-"}, podJson(p, d1, "web", nullptr));
    markRunningReady(p);
  }
  okNs({"create", "-f", "-"}, replicaSetJson("web", 2, d2));
  okNs({"wait", "pod/web-a", "pod/web-b", "--for=jsonpath={.metadata.ownerReferences[0].name}=web", "--timeout=30s"});
  okNs({"create", "poddisruptionbudget", "web", "--selector=app=web", "--min-available=2"});
  okNs({"wait", "pdb/web", "--for=jsonpath={.status.currentHealthy}=2", "--timeout=30s"});
  EXPECT_EQ(jsonpath("pdb/web", "{.status.disruptionsAllowed}"), "0");
  EXPECT_EQ(jsonpath("pdb/web", "{.status.expectedPods}"), "2");
  EXPECT_EQ(jsonpath("pdb/web", "{.status.conditions[?(@.type==\"DisruptionAllowed\")].reason}"),
            "InsufficientPods");

  // The eviction API answers 429 with upstream's message.
  json eviction = {{"apiVersion", "policy/v1"}, {"kind", "Eviction"},
                   {"metadata", {{"name", "web-a"}, {"namespace", ns_}}}};
  auto r = k({"create", "--raw", "/api/v1/namespaces/" + ns_ + "/pods/web-a/eviction", "-f", "-"},
             eviction.dump());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Cannot evict pod as it would violate the pod's disruption budget."),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TooManyRequests"), std::string::npos) << r.err;

  // drain cordons, retries on 429 and gives up at its timeout; the pods stay.
  r = k({"drain", d1, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=8s"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Cannot evict pod as it would violate the pod's disruption budget"),
            std::string::npos) << r.err;
  EXPECT_EQ(jsonpath("node/" + d1, "{.spec.unschedulable}", false), "true");
  EXPECT_EQ(jsonpath("pod/web-a", "{.metadata.name}"), "web-a");

  // Once the budget allows it, drain evicts both pods (each eviction takes one disruption).
  okNs({"patch", "pdb", "web", "--type=merge", "-p", R"({"spec":{"minAvailable":0}})"});
  okNs({"wait", "pdb/web", "--for=jsonpath={.status.disruptionsAllowed}=2", "--timeout=30s"});
  r = k({"drain", d1, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pod/web-a evicted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pod/web-b evicted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node/" + d1 + " drained"), std::string::npos) << r.out;
  EXPECT_EQ(okNs({"get", "pods", "--field-selector=spec.nodeName=" + d1, "-o", "name"}), "");

  // Two budgets over one pod: the eviction API refuses with 500, as upstream.
  okNs({"create", "poddisruptionbudget", "web2", "--selector=app=web", "--max-unavailable=1"});
  std::string name = okNs({"get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"});
  ASSERT_FALSE(name.empty());
  markRunningReady(name);
  eviction["metadata"]["name"] = name;
  r = k({"create", "--raw", "/api/v1/namespaces/" + ns_ + "/pods/" + name + "/eviction", "-f", "-"},
        eviction.dump());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("more than one PodDisruptionBudget"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace berth::e2e
