// The README's first command, end to end (root, runc): `berth cluster create` brings up a
// two-zone cluster of real runc nodes in private subnets; a Deployment whose image lives on a
// registry that listens only on the host's loopback (localhost:PORT/..., as people use kind with
// a local registry) runs on every node, pulled through the VPC endpoint; kubectl logs and exec
// reach pods on private nodes; the endpoint is not reachable from the internet namespace; delete
// removes the endpoint with the rest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string berthBin() {
  const char* b = std::getenv("BERTH_BIN");
  return b ? b : "berth";
}

// Processes (other than this test) whose command line contains `needle`.
int processesMatching(const std::string& needle) {
  int n = 0;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(getpid())) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

class ClusterRuncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, runc)";
    if (run({"sh", "-c", "command -v runc"}).exit_code != 0) GTEST_SKIP() << "runc is not installed";
    char tmpl[] = "/tmp/berth-e2e-crunc-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::mt19937 rng{std::random_device{}()};
    name_ = "r";
    for (int i = 0; i < 5; ++i) name_ += "abcdefghijklmnopqrstuvwxyz0123456789"[rng() % 36];
    env_ = {"BERTH_STATE_DIR=" + dir_ + "/state", "KUBECONFIG=" + dir_ + "/kubeconfig", "HOME=" + dir_};
    std::ofstream(dir_ + "/cluster.yaml")
        << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << name_
        << ", region: local-1}\navailabilityZones: [local-1a, local-1b]\n"
        << "vpc: {cidr: 10." << 100 + rng() % 100 << ".0.0/16, nat: {gateway: Single}}\n"
        << "managedNodeGroups:\n  - {name: ng-1, instanceType: m5.large, desiredCapacity: 2, "
           "minSize: 1, maxSize: 3, privateNetworking: true}\n";
  }
  void TearDown() override {
    if (dir_.empty()) return;
    berth({"cluster", "delete", name_}, std::chrono::seconds(120));
    fs::remove_all(dir_);
  }
  CmdResult berth(const std::vector<std::string>& args,
                  std::chrono::seconds timeout = std::chrono::seconds(300)) {
    std::vector<std::string> argv = {berthBin()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, "", env_, timeout);
  }
  CmdResult kubectl(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> argv = {"kubectl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, env_, std::chrono::seconds(200));
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") {
    CmdResult r = kubectl(args, input);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << ": " << r.err;
    return r.out;
  }

  std::string dir_, name_;
  std::vector<std::string> env_;
};

TEST_F(ClusterRuncTest, LoopbackRegistryImagesRunOnPrivateNodes) {
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  std::string port = registry.address().substr(registry.address().find(':') + 1);
  CmdResult created = berth({"cluster", "create", "-f", dir_ + "/cluster.yaml", "--registry-ports", port});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_NE(created.out.find("registry endpoint"), std::string::npos) << created.out;
  // The network as kubectl sees it: one VPC, a public and a private subnet per zone, one NAT.
  json subnets = json::parse(ok({"get", "subnets", "-o", "json"}));
  EXPECT_EQ(subnets["items"].size(), 4u) << subnets.dump();
  EXPECT_EQ(json::parse(ok({"get", "vpcs", "-o", "json"}))["items"].size(), 1u);
  EXPECT_EQ(json::parse(ok({"get", "natgateways", "-o", "json"}))["items"].size(), 1u);

  // One pod per node (the scheduler spreads a Deployment over zones), image named localhost:PORT.
  std::string deploy =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n"
      "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
      "    spec:\n      containers:\n      - name: web\n        image: localhost:" + port +
      "/berth/busybox:1\n        command: [sh, -c, 'echo started on $(hostname); sleep 3600']\n";
  ok({"apply", "-f", "-"}, deploy);
  CmdResult rolled = kubectl({"rollout", "status", "deploy/web", "--timeout=180s"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err << ok({"get", "pods", "-o", "wide"})
                                 << ok({"get", "events"});
  json pods = json::parse(ok({"get", "pods", "-l", "app=web", "-o", "json"}));
  std::set<std::string> zones;
  for (const auto& p : pods["items"]) {
    std::string node = p["spec"].value("nodeName", "");
    zones.insert(ok({"get", "node", node, "-o", "jsonpath={.metadata.labels.topology\\.kubernetes\\.io/zone}"}));
    std::string name = p["metadata"]["name"];
    // logs and exec go from the API server on the host to the private node's kubelet endpoint.
    EXPECT_NE(ok({"logs", name}).find("started on " + name), std::string::npos);
    EXPECT_EQ(ok({"exec", name, "--", "cat", "/etc/berth-version"}), "1\n");
  }
  EXPECT_EQ(zones, (std::set<std::string>{"local-1a", "local-1b"}));

  // The endpoint answers inside the VPC only: from the internet namespace it is unreachable.
  std::string endpoint = json::parse(ok({"config", "view", "--minify", "-o", "json"}))["clusters"][0]
                             ["cluster"]["server"];
  std::string cp_ip = endpoint.substr(8, endpoint.rfind(':') - 8);
  std::string inet = run({"sh", "-c", "ip netns list | awk '{print $1}' | grep '^berth-" + name_ + "-inet'"}).out;
  ASSERT_FALSE(inet.empty());
  inet.erase(inet.find('\n'));
  CmdResult outside = run({"ip", "netns", "exec", inet, "curl", "-s", "-m", "3", "http://" + cp_ip + ":" + port + "/v2/"});
  EXPECT_NE(outside.exit_code, 0) << outside.out;

  CmdResult deleted = berth({"cluster", "delete", name_}, std::chrono::seconds(120));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;
  EXPECT_EQ(run({"sh", "-c", "nft list tables | grep -c " + name_}).out, "0\n");
  EXPECT_EQ(run({"sh", "-c", "ip netns list | grep -c " + name_}).out, "0\n");
  // The containers went with their instances: no shim or container process is left.
  EXPECT_EQ(processesMatching(dir_ + "/state"), 0);
  EXPECT_EQ(processesMatching("echo started on"), 0);
}

}  // namespace
}  // namespace berth::e2e
