// End-to-end: `berth agent` (kubelet-lite) against a real `berth server`, driven by the real
// kubectl. Simulated nodes (registration, labels, leases, pod status, graceful deletion,
// re-registration after a restart) and the process runtime (pod lifecycle with host processes).
// As root with runc and the local registry: the kubelet's pod lifecycle events (Pulling, Pulled,
// Created, Started; Failed and BackOff for a missing image, counted rather than repeated;
// Killing on delete) in `kubectl get events`, `kubectl events` and `kubectl describe pod`; and
// `kubectl attach -i` feeding a container's stdin (stdin: true, stdinOnce: true); `kubectl run
// -i --rm` with piped commands and, under `script` for a terminal, `kubectl run -it` and
// `kubectl attach -it` to a tty: true container after an agent restart (the shim keeps its
// terminal).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "kubelet-lite/network/bridge_network.h"
#include "tests/e2e/harness.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

class AgentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server({"--controllers", "none"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0);
    delete server_;
    server_ = nullptr;
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
  // Starts `berth agent` with these flags and waits until it says it runs.
  std::unique_ptr<Child> startAgent(std::vector<std::string> flags) {
    std::vector<std::string> argv = {berthBinary(), "agent", "--kubeconfig", server_->kubeconfig()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto c = std::make_unique<Child>(argv);
    EXPECT_TRUE(c->waitFor("berth agent running", std::chrono::seconds(60)))
        << "berth agent did not start";
    return c;
  }

  static Server* server_;
};

Server* AgentTest::server_ = nullptr;

const char* kSimPod = R"(apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: sim
spec:
  nodeName: sim-1
  containers:
  - name: app
    image: nginx
    resources:
      limits: {cpu: 100m, memory: 64Mi}
)";

TEST_F(AgentTest, SimulatedNodesRegisterRunPodsAndSurviveARestart) {
  auto agent = startAgent({"--runtime", "simulated", "--nodes", "3", "--zones",
                           "local-1a,local-1b,local-1c", "--node-name-prefix", "sim-",
                           "--instance-type", "m5.large"});
  ok({"wait", "--for=condition=Ready", "node/sim-0", "node/sim-1", "node/sim-2", "--timeout=60s"});
  std::string wide = ok({"get", "nodes", "-o", "wide"});
  for (const char* n : {"sim-0", "sim-1", "sim-2"}) EXPECT_NE(wide.find(n), std::string::npos) << wide;
  EXPECT_NE(wide.find("INTERNAL-IP"), std::string::npos) << wide;
  EXPECT_NE(wide.find("simulated://"), std::string::npos) << wide;

  json nodes = json::parse(ok({"get", "nodes", "-o", "json"}));
  std::set<std::string> zones, cidrs;
  for (const auto& n : nodes["items"]) {
    const auto& l = n["metadata"]["labels"];
    std::string name = n["metadata"]["name"];
    EXPECT_EQ(l.value("kubernetes.io/hostname", ""), name);
    EXPECT_EQ(l.value("kubernetes.io/os", ""), "linux");
    EXPECT_FALSE(l.value("kubernetes.io/arch", "").empty());
    EXPECT_EQ(l.value("topology.kubernetes.io/region", ""), "local-1");
    EXPECT_EQ(l.value("node.kubernetes.io/instance-type", ""), "m5.large");
    zones.insert(l.value("topology.kubernetes.io/zone", ""));
    cidrs.insert(n["spec"].value("podCIDR", ""));
    EXPECT_EQ(n["status"]["capacity"].value("pods", ""), "110");
    EXPECT_EQ(n["status"]["conditions"].size(), 4u);
  }
  EXPECT_EQ(zones, (std::set<std::string>{"local-1a", "local-1b", "local-1c"}));
  EXPECT_EQ(cidrs.size(), 3u) << "each node has its own pod range";
  ok({"get", "lease", "-n", "kube-node-lease", "sim-0", "sim-1", "sim-2"});

  ok({"create", "namespace", "sim"});
  ok({"apply", "-f", "-"}, kSimPod);
  ok({"wait", "-n", "sim", "--for=condition=Ready", "pod/web", "--timeout=60s"});
  json pod = json::parse(ok({"get", "-n", "sim", "pod", "web", "-o", "json"}));
  std::string ip = pod["status"].value("podIP", "");
  std::string cidr = nodes["items"][1]["spec"].value("podCIDR", "");
  ASSERT_GT(cidr.size(), 4u);
  EXPECT_EQ(ip.rfind(cidr.substr(0, cidr.size() - 4), 0), 0u) << ip << " not in " << cidr;
  EXPECT_EQ(pod["status"].value("phase", ""), "Running");
  EXPECT_EQ(pod["status"].value("qosClass", ""), "Guaranteed");
  std::string row = ok({"get", "-n", "sim", "pod", "web", "--no-headers"});
  EXPECT_NE(row.find("1/1"), std::string::npos) << row;
  EXPECT_NE(row.find("Running"), std::string::npos) << row;

  // The agent restarts: it re-registers its nodes (same ranges) and keeps the pod as it was.
  agent->kill(SIGKILL);
  agent = startAgent({"--runtime", "simulated", "--nodes", "3", "--zones",
                      "local-1a,local-1b,local-1c", "--node-name-prefix", "sim-"});
  ok({"wait", "--for=condition=Ready", "node/sim-1", "--timeout=60s"});
  json again = json::parse(ok({"get", "-n", "sim", "pod", "web", "-o", "json"}));
  EXPECT_EQ(again["status"].value("podIP", ""), ip);

  // Graceful deletion completes (kubectl delete waits until the pod is gone).
  ok({"delete", "-n", "sim", "pod", "web", "--timeout=60s"});
  auto gone = k({"get", "-n", "sim", "pod", "web"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find("NotFound"), std::string::npos) << gone.err;
  agent->kill(SIGTERM);
  EXPECT_EQ(agent->wait(), 0);
  // Nodes stay after a clean exit (no --delete-nodes-on-exit).
  ok({"get", "node", "sim-0"});
}

TEST_F(AgentTest, BadFlagsAreNamed) {
  auto r = run({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime", "docker"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--runtime must be runc, process or simulated"), std::string::npos) << r.err;
  r = run({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime", "simulated",
           "--nodes", "zero"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--nodes"), std::string::npos) << r.err;
}

std::string podYaml(const std::string& name, const std::string& policy, const std::string& script) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "proc"}}},
              {"spec",
               {{"nodeName", "proc-1"},
                {"restartPolicy", policy},
                {"terminationGracePeriodSeconds", 5},
                {"containers",
                 json::array({{{"name", "app"},
                               {"image", "busybox"},
                               {"command", json::array({"sh", "-c", script})}}})}}}};
  return pod.dump();
}

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The container writes its pid a moment after it is reported running; wait for a new one.
int waitForPid(const std::string& path, int not_this, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int pid = std::atoi(readFile(path).c_str());
    if (pid > 1 && pid != not_this) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

TEST_F(AgentTest, ProcessRuntimeRunsRestartsCompletesAndDeletesPods) {
  std::string root = makeTempDir("berth-agent-root-");
  std::vector<std::string> flags = {"--runtime", "process", "--kubelet-port", "0", "--node-name", "proc-1",
                                    "--root-dir", root, "--zone", "local-1b"};
  auto agent = startAgent(flags);
  ok({"wait", "--for=condition=Ready", "node/proc-1", "--timeout=60s"});
  json node = json::parse(ok({"get", "node", "proc-1", "-o", "json"}));
  EXPECT_EQ(node["status"]["nodeInfo"].value("containerRuntimeVersion", ""), "process://0.1.0");
  EXPECT_FALSE(node["status"]["nodeInfo"].value("kernelVersion", "").empty());
  EXPECT_FALSE(node["spec"].value("podCIDR", "").empty());
  ok({"create", "namespace", "proc"});

  // A long-running pod: Running and Ready, its output in the CRI log file.
  std::string pidfile = root + "/hello.pid";
  // "$$$$" reaches sh as "$$" (the API's $(VAR) syntax escapes "$" as "$$").
  ok({"apply", "-f", "-"}, podYaml("hello", "Always",
                                   "echo hello; echo $$$$ > " + pidfile + "; exec sleep 1000"));
  ok({"wait", "-n", "proc", "--for=condition=Ready", "pod/hello", "--timeout=60s"});
  json pod = json::parse(ok({"get", "-n", "proc", "pod", "hello", "-o", "json"}));
  std::string uid = pod["metadata"]["uid"];
  EXPECT_EQ(pod["status"].value("phase", ""), "Running");
  EXPECT_FALSE(pod["status"].value("podIP", "").empty());
  EXPECT_FALSE(pod["status"].value("hostIP", "").empty());
  // Logs and exec go through the API server to this agent's kubelet endpoint.
  EXPECT_NE(ok({"logs", "-n", "proc", "hello"}).find("hello"), std::string::npos);
  EXPECT_EQ(ok({"exec", "-n", "proc", "hello", "--", "sh", "-c", "echo hi-from-exec"}), "hi-from-exec\n");
  EXPECT_FALSE(pod["status"].value("startTime", "").empty());

  // The container dies: it is restarted and RESTARTS counts it.
  int pid = waitForPid(pidfile, 0, std::chrono::seconds(30));
  ASSERT_GT(pid, 1);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ok({"wait", "-n", "proc", "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
      "pod/hello", "--timeout=60s"});
  ok({"wait", "-n", "proc", "--for=condition=Ready", "pod/hello", "--timeout=60s"});
  pod = json::parse(ok({"get", "-n", "proc", "pod", "hello", "-o", "json"}));
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["lastState"]["terminated"].value("exitCode", 0), 137);
  // The first instance's output is complete in its CRI log file (its shim drained it at exit).
  std::string log = readFile(root + "/proc-1/pods/proc_hello_" + uid + "/app/0.log");
  EXPECT_NE(log.find(" stdout F hello\n"), std::string::npos) << log;
  std::string row = ok({"get", "-n", "proc", "pod", "hello", "--no-headers"});
  EXPECT_NE(row.find("1/1"), std::string::npos) << row;
  EXPECT_NE(row.find("Running"), std::string::npos) << row;
  EXPECT_NE(row.find("1 ("), std::string::npos) << row;  // "1 (5s ago)"

  // The agent restarts: it adopts the running container instead of starting another.
  std::string container_id = pod["status"]["containerStatuses"][0]["containerID"];
  agent->kill(SIGKILL);
  agent->wait();
  agent = startAgent(flags);
  ok({"wait", "-n", "proc", "--for=condition=Ready", "pod/hello", "--timeout=60s"});
  pod = json::parse(ok({"get", "-n", "proc", "pod", "hello", "-o", "json"}));
  EXPECT_EQ(pod["status"]["containerStatuses"][0].value("containerID", ""), container_id);
  EXPECT_EQ(pod["status"]["containerStatuses"][0].value("restartCount", -1), 1);

  // restartPolicy Never: Completed and Error, as kubectl shows them.
  ok({"apply", "-f", "-"}, podYaml("done", "Never", "echo bye"));
  ok({"apply", "-f", "-"}, podYaml("fail", "Never", "echo oops >&2; exit 3"));
  ok({"wait", "-n", "proc", "--for=jsonpath={.status.phase}=Succeeded", "pod/done", "--timeout=60s"});
  ok({"wait", "-n", "proc", "--for=jsonpath={.status.phase}=Failed", "pod/fail", "--timeout=60s"});
  row = ok({"get", "-n", "proc", "pod", "done", "--no-headers"});
  EXPECT_NE(row.find("0/1"), std::string::npos) << row;
  EXPECT_NE(row.find("Completed"), std::string::npos) << row;
  row = ok({"get", "-n", "proc", "pod", "fail", "--no-headers"});
  EXPECT_NE(row.find("Error"), std::string::npos) << row;
  pod = json::parse(ok({"get", "-n", "proc", "pod", "fail", "-o", "json"}));
  EXPECT_EQ(pod["status"]["containerStatuses"][0]["state"]["terminated"].value("exitCode", 0), 3);

  // Deletion stops the process within the grace period and removes the pod.
  int pid2 = waitForPid(pidfile, pid, std::chrono::seconds(30));
  ASSERT_GT(pid2, 1);
  ok({"delete", "-n", "proc", "pod", "hello", "--timeout=60s"});
  EXPECT_NE(::kill(pid2, 0), 0) << "the container process outlived its pod";
  ok({"delete", "-n", "proc", "pod", "done", "fail", "--timeout=60s"});
  agent->kill(SIGTERM);
  EXPECT_EQ(agent->wait(), 0);
  std::filesystem::remove_all(root);
}

class RuncEventsTest : public AgentTest {
 protected:
  void TearDown() override {
    if (agent_) {
      agent_->kill(SIGTERM);
      EXPECT_EQ(agent_->wait(), 0);
    }
    // The node's pod bridge and its guard table outlive the agent by design: remove them.
    if (!node_.empty()) {
      run({"ip", "link", "del", kubelet::net::bridgeName(node_)});
      std::string guard = kubelet::net::BridgeNetwork::guardTable(node_);
      if (!guard.empty()) run({"nft", "delete", "table", "ip", guard});
    }
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  // Events about pod `name` in `ns` as JSON items.
  json events(const std::string& ns, const std::string& name) {
    return json::parse(ok({"get", "events", "-n", ns, "--field-selector",
                           "involvedObject.name=" + name, "-o", "json"}))["items"];
  }
  std::unique_ptr<Child> watchEvents(const std::string& ns, const std::string& name) {
    return std::make_unique<Child>(
        server_->kubectlArgv({"get", "events", "-n", ns, "-w", "--field-selector",
                              "involvedObject.name=" + name}),
        server_->kubectlEnv());
  }
  std::string podJson(const std::string& name, const std::string& image) {
    json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", "evs"}}},
              {"spec",
               {{"nodeName", node_},
                {"terminationGracePeriodSeconds", 1},
                {"containers", json::array({{{"name", "app"}, {"image", image},
                                             {"command", json::array({"sleep", "3600"})}}})}}}};
    return p.dump();
  }

  void startRuncNode(const std::string& node) {
    node_ = node;
    root_ = makeTempDir("berth-agent-runc-");
    agent_ = startAgent({"--runtime", "runc", "--kubelet-port", "0", "--node-name", node_,
                         "--root-dir", root_});
    ok({"wait", "--for=condition=Ready", "node/" + node_, "--timeout=60s"});
  }

  std::unique_ptr<Child> agent_;
  std::string root_, node_;
};

// Skips unless root with runc.
#define REQUIRE_RUNC()                                                                   \
  do {                                                                                   \
    if (::geteuid() != 0) GTEST_SKIP() << "runc pods need root";                         \
    if (::access("/usr/sbin/runc", X_OK) != 0 && ::access("/usr/bin/runc", X_OK) != 0)   \
      GTEST_SKIP() << "runc is not installed";                                           \
  } while (0)

TEST_F(RuncEventsTest, PodLifecycleEventsAsTheKubeletRecordsThem) {
  REQUIRE_RUNC();
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  startRuncNode("ev-runc-1");
  ok({"create", "namespace", "evs"});

  // A pod whose image is not on the node yet: Pulling, Pulled, Created, Started, in order.
  auto watch = watchEvents("evs", "web");
  ok({"apply", "-f", "-"}, podJson("web", registry.image("1")));
  ok({"wait", "-n", "evs", "--for=condition=Ready", "pod/web", "--timeout=120s"});
  std::string seen;
  ASSERT_TRUE(watch->waitFor("Started container app", std::chrono::seconds(30), &seen)) << seen;
  std::string quoted = "\"" + registry.image("1") + "\"";
  size_t pulling = seen.find("Pulling image " + quoted);
  size_t pulled = seen.find("Successfully pulled image " + quoted + " in ");
  size_t created = seen.find("Created container: app");
  size_t started = seen.find("Started container app");
  ASSERT_NE(pulling, std::string::npos) << seen;
  ASSERT_NE(pulled, std::string::npos) << seen;
  ASSERT_NE(created, std::string::npos) << seen;
  EXPECT_LT(pulling, pulled) << seen;
  EXPECT_LT(pulled, created) << seen;
  EXPECT_LT(created, started) << seen;
  std::set<std::string> reasons;
  for (const auto& e : events("evs", "web")) {
    reasons.insert(e.value("reason", ""));
    EXPECT_EQ(e.value("type", ""), "Normal") << e.dump();
    EXPECT_EQ(e["source"].value("component", ""), "kubelet") << e.dump();
    EXPECT_EQ(e["source"].value("host", ""), node_) << e.dump();
    EXPECT_EQ(e["involvedObject"].value("kind", ""), "Pod") << e.dump();
    EXPECT_EQ(e["involvedObject"].value("fieldPath", ""), "spec.containers{app}") << e.dump();
    EXPECT_EQ(e.value("reportingComponent", ""), "kubelet") << e.dump();
  }
  EXPECT_EQ(reasons, (std::set<std::string>{"Pulling", "Pulled", "Created", "Started"}));
  std::string describe = ok({"describe", "pod", "-n", "evs", "web"});
  EXPECT_NE(describe.find("Pulling image " + quoted), std::string::npos) << describe;
  EXPECT_NE(describe.find("kubelet"), std::string::npos) << describe;
  EXPECT_NE(describe.find("Started container app"), std::string::npos) << describe;
  std::string kevents = ok({"events", "-n", "evs", "--for", "pod/web"});
  EXPECT_NE(kevents.find("Created container: app"), std::string::npos) << kevents;

  // The image is cached now: the next pod says so instead of pulling.
  auto watch2 = watchEvents("evs", "web2");
  ok({"apply", "-f", "-"}, podJson("web2", registry.image("1")));
  seen.clear();
  ASSERT_TRUE(watch2->waitFor("Started container app", std::chrono::seconds(60), &seen)) << seen;
  EXPECT_NE(seen.find("Container image " + quoted + " already present on machine"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("Pulling image"), std::string::npos) << seen;

  // A missing image: Failed with the registry's message, then BackOff; repeats raise the count
  // of one Event instead of adding Events.
  auto watch3 = watchEvents("evs", "ghost");
  std::string ghost_image = registry.address() + "/berth/nothere:1";
  ok({"apply", "-f", "-"}, podJson("ghost", ghost_image));
  seen.clear();
  ASSERT_TRUE(watch3->waitFor("Back-off pulling image", std::chrono::seconds(60), &seen)) << seen;
  EXPECT_NE(seen.find("Failed to pull image \"" + ghost_image + "\""), std::string::npos) << seen;
  EXPECT_NE(seen.find("Error: ErrImagePull"), std::string::npos) << seen;
  ASSERT_TRUE(watch3->waitFor("Back-off pulling image", std::chrono::seconds(60), &seen)) << seen;
  int backoffs = 0;
  for (const auto& e : events("evs", "ghost")) {
    if (e.value("reason", "") != "BackOff") continue;
    ++backoffs;
    EXPECT_GE(e.value("count", 0), 2) << e.dump();
    EXPECT_EQ(e.value("message", ""), "Back-off pulling image \"" + ghost_image + "\"");
  }
  EXPECT_EQ(backoffs, 1) << "a repeated event is counted, not written again";
  std::string row = ok({"get", "pod", "-n", "evs", "ghost", "--no-headers"});
  EXPECT_TRUE(row.find("ImagePullBackOff") != std::string::npos || row.find("ErrImagePull") != std::string::npos)
      << row;

  // Deleting a pod stops its container: Killing.
  auto watch4 = watchEvents("evs", "web");
  ok({"delete", "pod", "-n", "evs", "web", "--timeout=60s"});
  seen.clear();
  ASSERT_TRUE(watch4->waitFor("Stopping container app", std::chrono::seconds(30), &seen)) << seen;
  bool killing = false;
  for (const auto& e : events("evs", "web"))
    if (e.value("reason", "") == "Killing") {
      killing = true;
      EXPECT_EQ(e.value("message", ""), "Stopping container app");
      EXPECT_EQ(e["involvedObject"].value("fieldPath", ""), "spec.containers{app}");
    }
  EXPECT_TRUE(killing) << ok({"get", "events", "-n", "evs"});
  ok({"delete", "pod", "-n", "evs", "web2", "ghost", "--timeout=60s"});
}

TEST_F(RuncEventsTest, AttachWithStdinFeedsTheContainer) {
  REQUIRE_RUNC();
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  startRuncNode("att-runc-1");
  ok({"apply", "-f", "-"}, R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"evs"}})");  // the events test may have made it
  json p = json::parse(podJson("cat", registry.image("1")));
  p["spec"]["restartPolicy"] = "Never";
  p["spec"]["containers"][0]["command"] = json::array({"cat"});
  p["spec"]["containers"][0]["stdin"] = true;
  p["spec"]["containers"][0]["stdinOnce"] = true;
  ok({"apply", "-f", "-"}, p.dump());
  ok({"apply", "-f", "-"}, podJson("web", registry.image("1")));
  ok({"wait", "-n", "evs", "--for=condition=Ready", "pod/cat", "pod/web", "--timeout=120s"});

  // What kubectl reads from its stdin reaches cat, whose output comes back; the end of that
  // input closes cat's stdin (stdinOnce), so cat exits, the attach returns and the pod is done.
  auto r = k({"attach", "-i", "-n", "evs", "cat", "-c", "app"}, "hello through stdin\nsecond line\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("hello through stdin\nsecond line\n"), std::string::npos) << r.out << r.err;
  ok({"wait", "-n", "evs", "--for=jsonpath={.status.phase}=Succeeded", "pod/cat", "--timeout=60s"});
  EXPECT_NE(ok({"logs", "-n", "evs", "cat"}).find("second line"), std::string::npos);

  // A container started without stdin: true has none to attach to.
  auto refused = k({"attach", "-i", "-n", "evs", "web", "-c", "app"}, "x\n");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE((refused.out + refused.err).find("stdin"), std::string::npos) << refused.out << refused.err;
  ok({"delete", "pod", "-n", "evs", "cat", "web", "--timeout=60s"});
}

TEST_F(RuncEventsTest, InteractiveRunAndTerminalsSurviveAnAgentRestart) {
  REQUIRE_RUNC();
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  startRuncNode("tty-runc-1");
  ok({"apply", "-f", "-"}, R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"evs"}})");
  std::string on_node = json{{"spec", {{"nodeName", node_}}}}.dump();
  auto run_args = [&](const std::string& flags, const std::string& name) {
    return std::vector<std::string>{"run", flags, "--rm", "--restart=Never", "-n", "evs", name,
                                    "--image=" + registry.image("1"), "--overrides=" + on_node, "--", "sh"};
  };
  // Piped commands: the container's shell computes 42 (not in our input) and its exit code is
  // kubectl's; --rm deletes the pod.
  auto r = k(run_args("-i", "piped"), "echo answer $((6*7)); exit 3\n");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("answer 42"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.err.find("pod evs/piped terminated (Error)"), std::string::npos) << r.err;
  ok({"wait", "-n", "evs", "--for=delete", "pod/piped", "--timeout=60s"});

  // With a terminal of 33x77 (kubectl needs one for -t): the container's terminal takes its size.
  auto on_terminal = [&](const std::vector<std::string>& args, const std::string& input) {
    std::string cmd = "stty rows 33 cols 77; exec";
    for (const auto& a : server_->kubectlArgv(args)) cmd += " '" + a + "'";
    return run({"script", "-qec", cmd, "/dev/null"}, input, server_->kubectlEnv(), std::chrono::seconds(120));
  };
  r = on_terminal(run_args("-it", "term"), "busybox stty size; echo answer $((6*7)); exit 3\n");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("33 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answer 42"), std::string::npos) << r.out;
  ok({"wait", "-n", "evs", "--for=delete", "pod/term", "--timeout=60s"});

  // A tty: true container outlives an agent restart with its terminal: attach -it still types
  // into it and resizes it.
  json p = json::parse(podJson("shell", registry.image("1")));
  p["spec"]["restartPolicy"] = "Never";
  p["spec"]["containers"][0]["command"] = json::array({"sh"});
  p["spec"]["containers"][0]["stdin"] = true;
  p["spec"]["containers"][0]["tty"] = true;
  ok({"apply", "-f", "-"}, p.dump());
  ok({"wait", "-n", "evs", "--for=condition=Ready", "pod/shell", "--timeout=120s"});
  agent_->kill(SIGKILL);
  agent_->wait();
  agent_ = startAgent({"--runtime", "runc", "--kubelet-port", "0", "--node-name", node_, "--root-dir", root_});
  ok({"wait", "--for=condition=Ready", "node/" + node_, "--timeout=60s"});
  r = on_terminal({"attach", "-it", "-n", "evs", "shell", "-c", "app"},
                  "busybox stty size; echo answer $((6*7)); exit 5\n");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // an attachment ends well when its container does
  EXPECT_NE(r.out.find("33 77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("answer 42"), std::string::npos) << r.out;
  ok({"wait", "-n", "evs", "--for=jsonpath={.status.containerStatuses[0].state.terminated.exitCode}=5",
      "pod/shell", "--timeout=60s"});
  ok({"delete", "pod", "-n", "evs", "shell", "--timeout=60s"});
}

}  // namespace
}  // namespace berth::e2e
