// The README's first command, end to end (root, runc): `berth cluster create` brings up a
// two-zone cluster of real runc nodes in private subnets; a Deployment whose image lives on a
// registry that listens only on the host's loopback (localhost:PORT/..., as people use kind with
// a local registry) runs on every node, pulled through the VPC endpoint; kubectl logs and exec
// reach pods on private nodes; the endpoint is not reachable from the internet namespace; delete
// removes the endpoint with the rest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster_workspace.h"
#include "tests/testing/test_registry.h"

namespace berth::e2e {
namespace {

using nlohmann::json;

class ClusterRuncTest : public LocalClusterTest {
 protected:
  void SetUp() override {
    if (std::string why = missingPrerequisite({"runc"}); !why.empty()) GTEST_SKIP() << why;
    makeWorkspace("crunc", "r");
    config_ = writeConfig({"local-1a", "local-1b"}, 2, 1, 3);
  }
  void TearDown() override {
    if (ws_) berth({"cluster", "delete", name_}, std::chrono::seconds(120));
  }

  std::string config_;
};

TEST_F(ClusterRuncTest, LoopbackRegistryImagesRunOnPrivateNodes) {
  berth::testing::TestRegistry registry;
  if (!registry.ok()) GTEST_SKIP() << "no local registry: " << registry.error();
  std::string port = registry.address().substr(registry.address().find(':') + 1);
  CmdResult created = berth({"cluster", "create", "-f", config_, "--registry-ports", port});
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
  EXPECT_EQ(processesMatching(ws_->dir() + "/state"), 0);
  EXPECT_EQ(processesMatching("echo started on"), 0);
}

}  // namespace
}  // namespace berth::e2e
