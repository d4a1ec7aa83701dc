// End-to-end: the in-process scheduler of `berth server` against Node objects made with the
// real kubectl (no node agent): zone spreading of a Deployment, FailedScheduling with
// upstream's message, a pending pod scheduled when a node that fits arrives, nodeSelector,
// taints, cordon. Waits are kubectl watches and `kubectl wait`, never sleeps.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "tests/e2e/harness.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const char* kNs = "sched";

class SchedulerE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The nodes are API objects with no agent renewing their Leases: a long grace period keeps
    // the node lifecycle controller from tainting them unreachable during a slow (ASan) run.
    server_ = new Server({"--node-monitor-grace-period", "1h"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    ASSERT_EQ(server_->kubectl({"create", "namespace", kNs}).exit_code, 0);
    for (const char* z : {"a", "b", "c"}) addNode(std::string("node-") + z, std::string("local-1") + z, "4");
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0) << "berth server did not shut down cleanly";
    delete server_;
    server_ = nullptr;
  }
  static std::string ok(std::vector<std::string> args, const std::string& input = "") {
    auto r = server_->kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " " << (args.size() > 1 ? args[1] : "")
                              << ": " << r.err;
    return r.out;
  }
  static std::string okNs(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"-n", kNs});
    return ok(args, input);
  }
  // A Node as an agent would register it: labels, then capacity/allocatable and Ready through
  // the status subresource.
  static void addNode(const std::string& name, const std::string& zone, const std::string& cpu) {
    json node = {{"apiVersion", "v1"},
                 {"kind", "Node"},
                 {"metadata",
                  {{"name", name},
                   {"labels", {{"kubernetes.io/hostname", name}, {"topology.kubernetes.io/zone", zone}}}}}};
    ok({"apply", "-f", "-"}, node.dump());
    json resources = {{"cpu", cpu}, {"memory", "8Gi"}, {"pods", "110"}};
    json status = {{"status",
                    {{"capacity", resources},
                     {"allocatable", resources},
                     {"conditions",
                      {{{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"},
                        {"message", "kubelet is posting ready status"}}}}}}};
    ok({"patch", "node", name, "--subresource=status", "--type=merge", "-p", status.dump()});
  }
  static json pod(const std::string& name) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", kNs}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  }
  static std::string nodeOf(const std::string& pod_name) {
    return okNs({"get", "pod", pod_name, "-o", "jsonpath={.spec.nodeName}"});
  }
  static bool waitScheduled(const std::string& pod_name) {
    auto r = server_->kubectl({"-n", kNs, "wait", "--for=condition=PodScheduled", "pod/" + pod_name,
                               "--timeout=60s"});
    return r.exit_code == 0;
  }
  static std::string waitUnschedulable(const std::string& pod_name) {
    auto r = server_->kubectl({"-n", kNs, "wait", "--for=condition=PodScheduled=False",
                               "pod/" + pod_name, "--timeout=60s"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return okNs({"get", "pod", pod_name, "-o",
                 "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}"});
  }
  // Watches pods with `selector` until `n` distinct ones have a node.
  static bool waitPodsScheduled(const std::string& selector, size_t n) {
    Child watch(server_->kubectlArgv({"-n", kNs, "get", "pods", "-l", selector, "-w", "--no-headers",
                                      "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName"}),
                server_->kubectlEnv());
    std::set<std::string> scheduled;
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 90s;
    while (scheduled.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !watch.readLine(&line, left)) break;
      auto sp = line.find_first_of(" \t");
      if (sp == std::string::npos) continue;
      std::string name = line.substr(0, sp), node = line.substr(line.find_first_not_of(" \t", sp));
      if (node != "<none>") scheduled.insert(name);
    }
    watch.kill(SIGTERM);
    watch.wait();
    return scheduled.size() >= n;
  }
  static std::map<std::string, int> zonesOf(const std::string& selector) {
    json nodes = json::parse(ok({"get", "nodes", "-o", "json"}));
    std::map<std::string, std::string> zone;
    for (const auto& n : nodes["items"])
      zone[n["metadata"]["name"]] = n["metadata"]["labels"].value("topology.kubernetes.io/zone", "");
    json pods = json::parse(okNs({"get", "pods", "-l", selector, "-o", "json"}));
    std::map<std::string, int> out;
    for (const auto& p : pods["items"]) ++out[zone[p["spec"].value("nodeName", "")]];
    return out;
  }

  static Server* server_;
};

Server* SchedulerE2E::server_ = nullptr;

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: sched
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
        resources:
          requests: {cpu: 100m, memory: 64Mi}
)";

// Runs first (gtest keeps declaration order): the nodes are empty and equal.
TEST_F(SchedulerE2E, DeploymentSpreadsOverZonesAndScales) {
  okNs({"apply", "-f", "-"}, kDeployment);
  ASSERT_TRUE(waitPodsScheduled("app=web", 6));
  EXPECT_EQ(zonesOf("app=web"),
            (std::map<std::string, int>{{"local-1a", 2}, {"local-1b", 2}, {"local-1c", 2}}));
  okNs({"scale", "deployment/web", "--replicas=9"});
  ASSERT_TRUE(waitPodsScheduled("app=web", 9));
  EXPECT_EQ(zonesOf("app=web"),
            (std::map<std::string, int>{{"local-1a", 3}, {"local-1b", 3}, {"local-1c", 3}}));
  std::string describe = okNs({"describe", "pod", "-l", "app=web"});
  EXPECT_NE(describe.find("Successfully assigned sched/web-"), std::string::npos) << describe;
  EXPECT_NE(describe.find("default-scheduler"), std::string::npos) << describe;
}

TEST_F(SchedulerE2E, PodThatFitsNowhereWaitsForABiggerNode) {
  json big = pod("big");
  big["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "16";
  okNs({"apply", "-f", "-"}, big.dump());
  EXPECT_EQ(waitUnschedulable("big"), "0/3 nodes are available: 3 Insufficient cpu.");
  // The event is written asynchronously: watch for it, then read it with describe.
  Child events(server_->kubectlArgv({"-n", kNs, "get", "events", "-w", "--field-selector",
                                     "involvedObject.name=big,reason=FailedScheduling"}),
               server_->kubectlEnv());
  ASSERT_TRUE(events.waitFor("FailedScheduling", 30s));
  events.kill(SIGTERM);
  events.wait();
  std::string describe = okNs({"describe", "pod", "big"});
  EXPECT_NE(describe.find("Warning  FailedScheduling"), std::string::npos) << describe;
  EXPECT_NE(describe.find("0/3 nodes are available: 3 Insufficient cpu."), std::string::npos)
      << describe;

  addNode("node-big", "local-1a", "32");
  ASSERT_TRUE(waitScheduled("big"));
  EXPECT_EQ(nodeOf("big"), "node-big");
}

TEST_F(SchedulerE2E, NodeSelectorPicksTheLabelledNode) {
  json p = pod("in-b");
  p["spec"]["nodeSelector"] = {{"topology.kubernetes.io/zone", "local-1b"}};
  okNs({"apply", "-f", "-"}, p.dump());
  ASSERT_TRUE(waitScheduled("in-b"));
  EXPECT_EQ(nodeOf("in-b"), "node-b");
  json nowhere = pod("nowhere");
  nowhere["spec"]["nodeSelector"] = {{"topology.kubernetes.io/zone", "mars"}};
  okNs({"apply", "-f", "-"}, nowhere.dump());
  EXPECT_EQ(waitUnschedulable("nowhere"),
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.");
}

TEST_F(SchedulerE2E, TaintWithoutTolerationKeepsPodsOff) {
  ok({"taint", "node", "node-a", "dedicated=infra:NoSchedule"});
  json p = pod("on-a");
  p["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "node-a"}};
  okNs({"apply", "-f", "-"}, p.dump());
  EXPECT_EQ(waitUnschedulable("on-a"),
            "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: infra}, "
            "3 node(s) didn't match Pod's node affinity/selector.");
  json tolerant = p;
  tolerant["metadata"]["name"] = "on-a-tolerant";
  tolerant["spec"]["tolerations"] = {{{"key", "dedicated"}, {"operator", "Equal"},
                                      {"value", "infra"}, {"effect", "NoSchedule"}}};
  okNs({"apply", "-f", "-"}, tolerant.dump());
  ASSERT_TRUE(waitScheduled("on-a-tolerant"));
  EXPECT_EQ(nodeOf("on-a-tolerant"), "node-a");
  // Removing the taint is a node update: the waiting pod is retried and lands.
  ok({"taint", "node", "node-a", "dedicated=infra:NoSchedule-"});
  ASSERT_TRUE(waitScheduled("on-a"));
  EXPECT_EQ(nodeOf("on-a"), "node-a");
}

TEST_F(SchedulerE2E, CordonKeepsNewPodsOff) {
  ok({"cordon", "node-c"});
  json p = pod("on-c");
  p["spec"]["nodeSelector"] = {{"kubernetes.io/hostname", "node-c"}};
  okNs({"apply", "-f", "-"}, p.dump());
  EXPECT_EQ(waitUnschedulable("on-c"),
            "0/4 nodes are available: 1 node(s) were unschedulable, "
            "3 node(s) didn't match Pod's node affinity/selector.");
  // Unconstrained pods go elsewhere meanwhile.
  okNs({"apply", "-f", "-"}, pod("anywhere").dump());
  ASSERT_TRUE(waitScheduled("anywhere"));
  EXPECT_NE(nodeOf("anywhere"), "node-c");
  ok({"uncordon", "node-c"});
  ASSERT_TRUE(waitScheduled("on-c"));
  EXPECT_EQ(nodeOf("on-c"), "node-c");
}

TEST_F(SchedulerE2E, OtherSchedulersPodsAreLeftAlone) {
  json p = pod("custom");
  p["spec"]["schedulerName"] = "my-scheduler";
  okNs({"apply", "-f", "-"}, p.dump());
  // A pod created after it and scheduled proves the scheduler has seen both.
  okNs({"apply", "-f", "-"}, pod("after-custom").dump());
  ASSERT_TRUE(waitScheduled("after-custom"));
  EXPECT_EQ(nodeOf("custom"), "");
  EXPECT_EQ(okNs({"get", "events", "--field-selector", "involvedObject.name=custom", "-o", "name"}), "");
}

// pods/binding as another scheduler uses it (kubectl create --raw posts the Binding): the pod
// gets the node, the binding's annotations and PodScheduled=True; binding it again, with another
// pod's uid, without a target or to a pod that does not exist fails as upstream's does.
TEST_F(SchedulerE2E, BindingSubresourceAssignsOnce) {
  json p = pod("bound-by-hand");
  p["spec"]["schedulerName"] = "my-scheduler";
  okNs({"apply", "-f", "-"}, p.dump());
  auto bind = [](const std::string& pod_name, const json& binding) {
    return server_->kubectl({"create", "--raw",
                             "/api/v1/namespaces/" + std::string(kNs) + "/pods/" + pod_name + "/binding",
                             "-f", "-"},
                            binding.dump());
  };
  auto binding = [](const std::string& pod_name, const std::string& node) {
    return json{{"apiVersion", "v1"}, {"kind", "Binding"},
                {"metadata", {{"name", pod_name}, {"annotations", {{"bound-by", "e2e"}}}}},
                {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  };
  auto r = bind("bound-by-hand", binding("bound-by-hand", "node-b"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nodeOf("bound-by-hand"), "node-b");
  EXPECT_TRUE(waitScheduled("bound-by-hand"));
  EXPECT_EQ(okNs({"get", "pod", "bound-by-hand", "-o", "jsonpath={.metadata.annotations.bound-by}"}), "e2e");

  r = bind("bound-by-hand", binding("bound-by-hand", "node-c"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Conflict"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pod bound-by-hand is already assigned to node \"node-b\""), std::string::npos) << r.err;
  EXPECT_EQ(nodeOf("bound-by-hand"), "node-b");

  okNs({"apply", "-f", "-"}, [&] { json q = p; q["metadata"]["name"] = "uid-checked"; return q.dump(); }());
  json wrong_uid = binding("uid-checked", "node-a");
  wrong_uid["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000";
  r = bind("uid-checked", wrong_uid);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the UID in the precondition"), std::string::npos) << r.err;
  json no_target = binding("uid-checked", "");
  r = bind("uid-checked", no_target);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("target.name: Required value"), std::string::npos) << r.err;
  EXPECT_EQ(nodeOf("uid-checked"), "");

  r = bind("no-such-pod", binding("no-such-pod", "node-a"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("NotFound"), std::string::npos) << r.err;
  okNs({"delete", "pod", "bound-by-hand", "uid-checked", "--wait=false"});
}

}  // namespace
}  // namespace berth::e2e
