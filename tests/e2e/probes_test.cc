// End-to-end: container probes in `berth agent`, seen through the real kubectl. With the
// process runtime: an exec readiness probe flips a pod Ready/NotReady (kubectl wait and the
// Service's EndpointSlice follow), an exec liveness probe restarts the container (restartCount,
// Unhealthy and Killing events in `kubectl get events` and `kubectl describe pod`), and an
// httpGet probe on a named port. As root with runc and the local registry: an httpGet probe
// reaches a server listening inside the pod's own network namespace. Also `kubectl attach`
// (output; stdin is refused by the process runtime) through the same kubelet paths as exec.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <memory>

#include "kubelet-lite/network/bridge_network.h"
#include "tests/e2e/harness.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

class ProbesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Server({"--controllers", "endpointslice,namespace"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0);
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    if (agent_) {
      agent_->kill(SIGTERM);
      EXPECT_EQ(agent_->wait(), 0);
      agent_.reset();
    }
    if (runtime_ == "runc") {
      // The node's pod bridge and its guard table outlive the agent by design: remove them.
      run({"ip", "link", "del", kubelet::net::bridgeName(node_)});
      std::string guard = kubelet::net::BridgeNetwork::guardTable(node_);
      if (!guard.empty()) run({"nft", "delete", "table", "ip", guard});
    }
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = server_->kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << " " << (args.size() > 1 ? args[1] : "")
                              << " failed: " << r.err;
    return r.out;
  }
  void startAgent(const std::string& runtime, const std::string& node) {
    runtime_ = runtime;
    node_ = node;
    root_ = makeTempDir("berth-probes-root-");
    std::vector<std::string> argv = {berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(),
                                     "--runtime", runtime, "--kubelet-port", "0", "--node-name",
                                     node, "--root-dir", root_};
    agent_ = std::make_unique<Child>(argv);
    ASSERT_TRUE(agent_->waitFor("berth agent running", std::chrono::seconds(60)));
    ok({"wait", "--for=condition=Ready", "node/" + node, "--timeout=60s"});
  }
  // A pod on `node` running `script` with the given probes (a JSON object merged into the
  // container).
  static std::string pod(const std::string& name, const std::string& ns, const std::string& node,
                         const std::string& image, const std::string& script, const json& probes,
                         const json& ports = json::array()) {
    json c = {{"name", "app"}, {"image", image}, {"command", json::array({"sh", "-c", script})}};
    c.update(probes);
    if (!ports.empty()) c["ports"] = ports;
    json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}},
              {"spec",
               {{"nodeName", node}, {"terminationGracePeriodSeconds", 2},
                {"containers", json::array({c})}}}};
    return p.dump();
  }
  // Waits until the EndpointSlice of service `svc` says its first endpoint's ready is `ready`.
  void waitSliceReady(const std::string& ns, const std::string& svc, bool ready) {
    ok({"wait", "-n", ns, "endpointslice", "-l", "kubernetes.io/service-name=" + svc,
        std::string("--for=jsonpath={.endpoints[0].conditions.ready}=") + (ready ? "true" : "false"),
        "--timeout=60s"});
  }

  static Server* server_;
  std::unique_ptr<Child> agent_;
  std::string root_, runtime_, node_;
};

Server* ProbesTest::server_ = nullptr;

TEST_F(ProbesTest, ReadinessFlipsPodAndEndpointSlice) {
  startAgent("process", "probe-proc-1");
  ok({"create", "namespace", "ready"});
  std::string flag = root_ + "/ready-flag";
  json probes = {{"readinessProbe",
                  {{"exec", {{"command", json::array({"cat", flag})}}},
                   {"periodSeconds", 1}, {"failureThreshold", 1}}}};
  ok({"apply", "-f", "-"}, pod("web", "ready", "probe-proc-1", "busybox",
                               "touch " + flag + "; exec sleep 1000", probes));
  ok({"apply", "-f", "-"}, R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"ready"},
    "spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}})");
  ok({"wait", "-n", "ready", "--for=condition=Ready", "pod/web", "--timeout=60s"});
  waitSliceReady("ready", "web", true);
  json p = json::parse(ok({"get", "-n", "ready", "pod", "web", "-o", "json"}));
  EXPECT_EQ(p["status"]["containerStatuses"][0].value("ready", false), true);
  EXPECT_EQ(p["status"]["containerStatuses"][0].value("started", false), true);

  // The file goes: the probe fails, the pod is NotReady and leaves the ready endpoints.
  ok({"exec", "-n", "ready", "web", "--", "rm", flag});
  ok({"wait", "-n", "ready", "--for=condition=Ready=false", "pod/web", "--timeout=60s"});
  ok({"wait", "-n", "ready", "--for=condition=ContainersReady=false", "pod/web", "--timeout=10s"});
  waitSliceReady("ready", "web", false);
  std::string row = ok({"get", "-n", "ready", "pod", "web", "--no-headers"});
  EXPECT_NE(row.find("0/1"), std::string::npos) << row;
  EXPECT_NE(row.find("Running"), std::string::npos) << row;
  p = json::parse(ok({"get", "-n", "ready", "pod", "web", "-o", "json"}));
  EXPECT_EQ(p["status"]["containerStatuses"][0].value("restartCount", -1), 0)
      << "a readiness failure never restarts";

  // And back.
  ok({"exec", "-n", "ready", "web", "--", "touch", flag});
  ok({"wait", "-n", "ready", "--for=condition=Ready", "pod/web", "--timeout=60s"});
  waitSliceReady("ready", "web", true);
  ok({"delete", "namespace", "ready", "--timeout=60s"});
}

TEST_F(ProbesTest, LivenessFailureRestartsTheContainerWithEvents) {
  startAgent("process", "probe-proc-2");
  ok({"create", "namespace", "live"});
  std::string flag = root_ + "/alive";
  json probes = {{"livenessProbe",
                  {{"exec", {{"command", json::array({"cat", flag})}}},
                   {"periodSeconds", 1}, {"failureThreshold", 2}}}};
  ok({"apply", "-f", "-"}, pod("doomed", "live", "probe-proc-2", "busybox",
                               "touch " + flag + "; exec sleep 1000", probes));
  ok({"wait", "-n", "live", "--for=condition=Ready", "pod/doomed", "--timeout=60s"});
  Child events(server_->kubectlArgv({"get", "events", "-n", "live", "-w", "--field-selector",
                                     "involvedObject.name=doomed"}),
               server_->kubectlEnv());

  ok({"exec", "-n", "live", "doomed", "--", "rm", flag});
  ok({"wait", "-n", "live", "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
      "pod/doomed", "--timeout=60s"});
  std::string seen;
  EXPECT_TRUE(events.waitFor("failed liveness probe, will be restarted", std::chrono::seconds(30), &seen))
      << seen;
  // The new instance recreated the file: it stays up and Ready.
  ok({"wait", "-n", "live", "--for=condition=Ready", "pod/doomed", "--timeout=60s"});
  json p = json::parse(ok({"get", "-n", "live", "pod", "doomed", "-o", "json"}));
  const json& cs = p["status"]["containerStatuses"][0];
  EXPECT_TRUE(cs["lastState"].contains("terminated")) << cs.dump();
  EXPECT_TRUE(cs["state"].contains("running")) << cs.dump();

  json list = json::parse(ok({"get", "events", "-n", "live", "--field-selector",
                              "involvedObject.name=doomed", "-o", "json"}));
  bool unhealthy = false, killing = false;
  for (const auto& e : list["items"]) {
    std::string reason = e.value("reason", ""), msg = e.value("message", "");
    if (reason == "Unhealthy" && msg.rfind("Liveness probe failed:", 0) == 0) {
      unhealthy = true;
      EXPECT_EQ(e.value("type", ""), "Warning");
      EXPECT_EQ(e["involvedObject"].value("fieldPath", ""), "spec.containers{app}");
    }
    if (reason == "Killing" && msg == "Container app failed liveness probe, will be restarted") killing = true;
  }
  EXPECT_TRUE(unhealthy) << list.dump();
  EXPECT_TRUE(killing) << list.dump();
  std::string describe = ok({"describe", "-n", "live", "pod", "doomed"});
  EXPECT_NE(describe.find("Liveness probe failed"), std::string::npos) << describe;
  EXPECT_NE(describe.find("Liveness:"), std::string::npos) << describe;
  events.kill(SIGTERM);
  events.wait();
  ok({"delete", "namespace", "live", "--timeout=60s"});
}

TEST_F(ProbesTest, AttachFollowsTheContainersOutputUntilItExits) {
  startAgent("process", "probe-proc-4");
  ok({"create", "namespace", "att"});
  std::string stop = root_ + "/stop";
  json p = json::parse(pod("talker", "att", "probe-proc-4", "busybox",
                           "while [ ! -f " + stop + " ]; do echo tick; echo tock >&2; sleep 0.2; done; echo bye",
                           json::object()));
  p["spec"]["restartPolicy"] = "Never";
  ok({"apply", "-f", "-"}, p.dump());
  ok({"wait", "-n", "att", "--for=condition=Ready", "pod/talker", "--timeout=60s"});
  Child attach(server_->kubectlArgv({"attach", "-n", "att", "talker", "-c", "app"}), server_->kubectlEnv());
  std::string seen;
  EXPECT_TRUE(attach.waitFor("tick", std::chrono::seconds(30), &seen)) << seen;
  // A container without stdin: true has no stdin to hand out: refused with a reason (with
  // stdin: e2e-attach).
  auto in = server_->kubectl({"attach", "-i", "-n", "att", "talker", "-c", "app"});
  EXPECT_NE(in.exit_code, 0);
  EXPECT_NE(in.err.find("was not started with stdin: true"), std::string::npos) << in.err;
  // The container ends: its last line arrives and kubectl attach returns.
  { std::ofstream(stop) << "x"; }
  EXPECT_TRUE(attach.waitFor("bye", std::chrono::seconds(30), &seen)) << seen;
  EXPECT_EQ(attach.wait(), 0);
  ok({"delete", "namespace", "att", "--timeout=60s"});
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

TEST_F(ProbesTest, HttpGetProbeOnANamedPortWithTheProcessRuntime) {
  startAgent("process", "probe-proc-3");
  ok({"create", "namespace", "http"});
  std::string www = root_ + "/www";
  std::filesystem::create_directories(www);
  int port = freePort();
  json probes = {{"readinessProbe",
                  {{"httpGet", {{"path", "/healthz"}, {"port", "web"},
                                {"httpHeaders", json::array({{{"name", "X-Probe"}, {"value", "1"}}})}}},
                   {"periodSeconds", 1}, {"failureThreshold", 1}}}};
  ok({"apply", "-f", "-"},
     pod("httpd", "http", "probe-proc-3", "busybox",
         "echo ok > " + www + "/healthz; exec busybox httpd -f -p 127.0.0.1:" + std::to_string(port) +
             " -h " + www,
         probes, json::array({{{"name", "web"}, {"containerPort", port}}})));
  ok({"wait", "-n", "http", "--for=condition=Ready", "pod/httpd", "--timeout=60s"});
  // 404 is a failure.
  std::filesystem::remove(www + "/healthz");
  ok({"wait", "-n", "http", "--for=condition=Ready=false", "pod/httpd", "--timeout=60s"});
  ok({"delete", "namespace", "http", "--timeout=60s"});
}

TEST_F(ProbesTest, HttpGetProbeReachesThePodNetworkNamespaceWithRunc) {
  if (::geteuid() != 0) GTEST_SKIP() << "runc pods need root";
  if (::access("/usr/sbin/runc", X_OK) != 0 && ::access("/usr/bin/runc", X_OK) != 0)
    GTEST_SKIP() << "runc is not installed";
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  startAgent("runc", "probe-runc-1");
  ok({"create", "namespace", "netns"});
  json probes = {{"readinessProbe",
                  {{"httpGet", {{"path", "/index.html"}, {"port", "http"}}},
                   {"periodSeconds", 1}, {"failureThreshold", 1}}},
                 {"livenessProbe", {{"tcpSocket", {{"port", 8080}}}, {"periodSeconds", 1}}}};
  ok({"apply", "-f", "-"},
     pod("web", "netns", "probe-runc-1", registry.image("1"),
         "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www", probes,
         json::array({{{"name", "http"}, {"containerPort", 8080}}})));
  ok({"wait", "-n", "netns", "--for=condition=Ready", "pod/web", "--timeout=120s"});
  // httpd listens only inside the pod's network namespace: the probes went in there.
  ok({"exec", "-n", "netns", "web", "--", "rm", "/www/index.html"});
  ok({"wait", "-n", "netns", "--for=condition=Ready=false", "pod/web", "--timeout=60s"});
  json p = json::parse(ok({"get", "-n", "netns", "pod", "web", "-o", "json"}));
  EXPECT_EQ(p["status"]["containerStatuses"][0].value("restartCount", -1), 0)
      << "the tcpSocket liveness probe keeps succeeding";
  ok({"delete", "namespace", "netns", "--timeout=60s"});
}

}  // namespace
}  // namespace berth::e2e
