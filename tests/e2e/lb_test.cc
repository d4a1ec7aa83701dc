// A Service of type LoadBalancer on a real local cluster (root, runc): three private runc nodes,
// one per zone; a Deployment of three busybox httpd pods spread over the zones, each answering
// with its own name; the Service gets status.loadBalancer.ingress and a LoadBalancer object;
// from the host, curl to ADDRESS:PORT reaches the pods of every zone through the HAProxy in the
// balancer's namespace; after `berth cloud inject zone-outage` for one zone the Service keeps
// answering, from the other zones' pods only; deleting the Service removes the balancer's
// namespace and HAProxy; deleting the cluster leaves no namespace, link, nft table or process.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster_workspace.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

// True once `pid` has exited (a zombie waiting for init to reap it counts as exited), waiting
// on its pidfd for at most `timeout`.
bool exitsWithin(pid_t pid, std::chrono::milliseconds timeout) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return true;  // no such process
  pollfd p{fd, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  ::close(fd);
  return rc > 0;
}

using nlohmann::json;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

class LoadBalancerClusterTest : public LocalClusterTest {
 protected:
  void SetUp() override {
    if (std::string why = missingPrerequisite({"runc"}); !why.empty()) GTEST_SKIP() << why;
    if (::access("/usr/sbin/haproxy", X_OK) != 0) GTEST_SKIP() << "haproxy is not installed";
    makeWorkspace("lb", "b");
    config_ = writeConfig({"local-1a", "local-1b", "local-1c"}, 3, 1, 4);
  }
  void TearDown() override {
    if (!ws_) return;
    berth({"cloud", "inject", "clear", "--cluster", name_});
    berth({"cluster", "delete", name_}, std::chrono::seconds(180));
  }
  json networkState() { return ws_->networkState(name_); }
  // The zone of a pod's node, looked up once per pod ("" when it is unknown).
  std::string zoneOf(const std::string& pod) {
    if (pod.empty()) return "";
    auto it = zones_.find(pod);
    if (it != zones_.end()) return it->second;
    CmdResult node = kubectl({"get", "pod", pod, "-o", "jsonpath={.spec.nodeName}"});
    if (node.exit_code != 0 || node.out.empty()) return "";
    CmdResult zone = kubectl({"get", "node", node.out, "-o",
                              "jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}"});
    if (zone.exit_code != 0) return "";
    return zones_[pod] = zone.out;
  }
  // The pod answering one request to `url`, "" when it failed.
  std::string ask(const std::string& url) {
    CmdResult r = run({"curl", "-s", "--max-time", "3", url});
    std::string body = r.exit_code == 0 ? r.out : "";
    return body.substr(0, body.find('\n'));
  }

  std::string config_;
  std::map<std::string, std::string> zones_;  // pod -> zone
};

TEST_F(LoadBalancerClusterTest, ServiceAnswersFromEveryZoneAndSurvivesAZoneOutage) {
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  std::string port = registry.address().substr(registry.address().find(':') + 1);
  CmdResult created = berth({"cluster", "create", "-f", config_, "--registry-ports", port});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  ASSERT_EQ(kubectl({"wait", "nodes", "--all", "--for=condition=Ready", "--timeout=180s"}).exit_code, 0);

  // Three pods, one per zone, each serving its own name.
  std::string app =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n"
      "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
      "    spec:\n      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone,"
      " whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}\n"
      "      containers:\n      - name: web\n        image: localhost:" + port + "/berth/busybox:1\n"
      "        env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]\n"
      "        command: [sh, -c, 'mkdir -p /tmp/www && echo $POD_NAME > /tmp/www/index.html && "
      "exec httpd -f -p 8080 -h /tmp/www']\n"
      "        ports: [{containerPort: 8080}]\n"
      "        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}\n"
      "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: LoadBalancer\n"
      "  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n";
  ok({"apply", "-f", "-"}, app);
  CmdResult rolled = kubectl({"rollout", "status", "deploy/web", "--timeout=180s"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err << ok({"get", "pods", "-o", "wide"});
  std::set<std::string> zones;
  json pods = json::parse(ok({"get", "pods", "-l", "app=web", "-o", "json"}));
  for (const auto& p : pods["items"]) zones.insert(zoneOf(p["metadata"]["name"]));
  ASSERT_EQ(zones, (std::set<std::string>{"local-1a", "local-1b", "local-1c"})) << ok({"get", "pods", "-o", "wide"});

  // The address in the Service's status and in the LoadBalancer object.
  CmdResult waited = kubectl({"wait", "svc/web", "--for=jsonpath={.status.loadBalancer.ingress[0].ip}",
                              "--timeout=120s"});
  ASSERT_EQ(waited.exit_code, 0) << waited.err << ok({"describe", "svc", "web"});
  std::string address = ok({"get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"});
  ASSERT_FALSE(address.empty());
  std::string lbs = ok({"get", "loadbalancers"});
  EXPECT_TRUE(contains(lbs, address)) << lbs;
  json state = networkState(), lb;
  for (const auto& [name, l] : state["loadBalancers"].items())
    if (l["address"] == address) lb = l;
  ASSERT_FALSE(lb.is_null()) << state.dump();
  std::string netns = lb["netns"];
  pid_t master = lb["haproxyPid"];
  EXPECT_GE(processesMatching(ws_->dir() + "/state/" + name_ + "/cloud/network/lb-"), 1);

  // From the host, to the pods of every zone.
  std::string url = "http://" + address + "/";
  std::set<std::string> answered;
  for (int i = 0; i < 60 && answered.size() < 3; ++i) {
    std::string pod = ask(url);
    ASSERT_TRUE(zones_.count(pod)) << "request " << i << " answered \"" << pod << "\"";
    answered.insert(zones_[pod]);
  }
  EXPECT_EQ(answered, zones);

  // One zone goes down: the Service keeps answering, in a bounded time only from the others.
  const std::string dead = "local-1c";
  CmdResult outage = berth({"cloud", "inject", "zone-outage", "--cluster", name_, dead});
  ASSERT_EQ(outage.exit_code, 0) << outage.err;
  EXPECT_TRUE(contains(outage.out, "crashed 1 instance")) << outage.out;
  int clean = 0, tries = 0;
  std::set<std::string> after;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (clean < 20 && std::chrono::steady_clock::now() < deadline) {
    ++tries;
    std::string zone = zoneOf(ask(url));  // a replacement pod may answer too
    bool good = !zone.empty() && zone != dead;
    clean = good ? clean + 1 : 0;
    if (good) after.insert(zone);
  }
  EXPECT_EQ(clean, 20) << "after " << tries << " requests the service still failed or answered from " << dead
                       << "\n" << ok({"get", "pods,nodes", "-o", "wide"});
  EXPECT_EQ(after, (std::set<std::string>{"local-1a", "local-1b"}));
  EXPECT_TRUE(contains(berth({"cloud", "instances", "--cluster", name_}).out, "Server.InternalError"));

  // Deleting the Service deletes its balancer (kubectl waits for the finalizer).
  ASSERT_EQ(kubectl({"delete", "svc", "web", "--timeout=120s"}).exit_code, 0);
  EXPECT_FALSE(contains(run({"ip", "netns", "list"}).out, netns));
  EXPECT_TRUE(exitsWithin(master, std::chrono::seconds(15))) << "haproxy survived its Service";
  EXPECT_EQ(processesMatching(ws_->dir() + "/state/" + name_ + "/cloud/network/lb-"), 0);
  EXPECT_TRUE(networkState()["loadBalancers"].empty());

  std::string prefix = networkState()["prefix"];
  ASSERT_EQ(berth({"cloud", "inject", "clear", "--cluster", name_}).exit_code, 0);
  CmdResult deleted = berth({"cluster", "delete", name_}, std::chrono::seconds(180));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  EXPECT_EQ(run({"sh", "-c", "ip netns list | grep -c " + name_}).out, "0\n");
  EXPECT_EQ(run({"sh", "-c", "nft list tables | grep -c " + name_}).out, "0\n");
  EXPECT_FALSE(contains(run({"ip", "-o", "link", "show"}).out, prefix));
  EXPECT_EQ(processesMatching(ws_->dir() + "/state"), 0);
}

}  // namespace
}  // namespace berth::e2e
