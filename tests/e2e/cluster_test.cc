// `berth cluster create|get|delete` end to end (root): a ClusterConfig brought up on this
// machine (network, `berth server --cloud-provider local`, NodeGroup objects, kubeconfig),
// created twice without doubling, listed, then deleted leaving no namespace, link, nft table,
// process, file or kubeconfig context behind. Driven with the real kubectl.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster_workspace.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    ws_ = std::make_unique<ClusterWorkspace>("cluster", "kube/config");
    dir_ = ws_->dir();
    name_ = randomClusterName("t");
    // A CIDR of its own, so tests running at once never share addresses.
    cidr_ = randomVpcCidr();
    // The user's kubeconfig already has a context: create must keep it.
    std::ofstream(dir_ + "/kube/config")
        << "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: "
           "'https://127.0.0.1:1'}\nusers:\n- name: other\n  user: {token: x}\ncontexts:\n- name: "
           "other\n  context: {cluster: other, user: other}\ncurrent-context: other\n";
    std::ofstream(dir_ + "/cluster.yaml")
        << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << name_
        << "}\nvpc:\n  cidr: " << cidr_ << "\n  nat: {gateway: Single}\n"
        << "iam: {withOIDC: true}\n"
        << "managedNodeGroups:\n  - {name: ng-1, desiredCapacity: 0, minSize: 0, maxSize: 4, "
           "labels: {team: a}}\n"
        << "fargateProfiles:\n  - {name: fp, selectors: [{namespace: serverless}]}\n";
  }
  void TearDown() override {
    if (ws_) berth({"cluster", "delete", name_}, std::chrono::seconds(120));
  }
  CmdResult berth(const std::vector<std::string>& args,
                  std::chrono::seconds timeout = std::chrono::seconds(180)) {
    return ws_->berth(args, timeout);
  }
  CmdResult kubectl(const std::vector<std::string>& args) { return ws_->kubectl(args, "", std::chrono::seconds(60)); }
  std::string sh(const std::string& cmd) { return run({"sh", "-c", cmd}).out; }

  std::unique_ptr<ClusterWorkspace> ws_;
  std::string dir_, name_, cidr_;
};

TEST_F(ClusterTest, CreateTwiceGetAndDeleteLeavesNothing) {
  CmdResult dry = berth({"cluster", "create", "-f", dir_ + "/cluster.yaml", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("local-1b"), std::string::npos) << dry.out;
  EXPECT_NE(dry.err.find("iam: not supported by Berth"), std::string::npos) << dry.err;
  EXPECT_FALSE(fs::exists(dir_ + "/state/" + name_)) << "--dry-run made state";

  CmdResult c1 = berth({"cluster", "create", "-f", dir_ + "/cluster.yaml", "--node-runtime", "simulated"});
  ASSERT_EQ(c1.exit_code, 0) << c1.out << c1.err;
  EXPECT_NE(c1.out.find("[1/5] network"), std::string::npos) << c1.out;
  EXPECT_NE(c1.out.find("ng-1 (managed"), std::string::npos) << c1.out;

  // The context is current, named after the cluster; the user's other context is kept.
  CmdResult ctx = kubectl({"config", "current-context"});
  EXPECT_EQ(ctx.out, name_ + "\n");
  CmdResult ctxs = kubectl({"config", "get-contexts", "-o", "name"});
  EXPECT_NE(ctxs.out.find("other"), std::string::npos) << ctxs.out;

  CmdResult ng = kubectl({"get", "nodegroups", "-o", "json"});
  ASSERT_EQ(ng.exit_code, 0) << ng.err;
  auto items = nlohmann::json::parse(ng.out)["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["spec"]["labels"]["team"], "a");
  EXPECT_EQ(items[0]["metadata"]["labels"]["berth.dev/cluster"], name_);
  std::string uid = items[0]["metadata"]["uid"];
  CmdResult fp = kubectl({"get", "fargateprofiles", "-o", "name"});
  EXPECT_EQ(fp.out, "fargateprofile.berth.dev/fp\n");

  // The second create finds everything in place and changes nothing.
  CmdResult c2 = berth({"cluster", "create", "-f", dir_ + "/cluster.yaml", "--node-runtime", "simulated"});
  ASSERT_EQ(c2.exit_code, 0) << c2.out << c2.err;
  EXPECT_NE(c2.out.find("exists, unchanged"), std::string::npos) << c2.out;
  ng = kubectl({"get", "nodegroups", "-o", "json"});
  items = nlohmann::json::parse(ng.out)["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["metadata"]["uid"], uid);
  EXPECT_EQ(run({"pgrep", "-f", "-c", "server --data-dir " + dir_ + "/state/" + name_ + "/server"}).out, "1\n");

  CmdResult get = berth({"cluster", "get"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("NAME"), std::string::npos);
  EXPECT_NE(get.out.find(name_), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("ACTIVE"), std::string::npos) << get.out;
  EXPECT_NE(get.out.find("local-1a,local-1b,local-1c"), std::string::npos) << get.out;

  CmdResult del = berth({"cluster", "delete", name_});
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;
  EXPECT_EQ(sh("ip netns list | grep -c " + name_), "0\n");
  EXPECT_EQ(sh("nft list tables | grep -c " + name_), "0\n");
  EXPECT_EQ(run({"pgrep", "-f", "-c", dir_ + "/state"}).out, "0\n");
  EXPECT_FALSE(fs::exists(dir_ + "/state/" + name_));
  ctxs = kubectl({"config", "get-contexts", "-o", "name"});
  EXPECT_EQ(ctxs.out, "other\n");
  get = berth({"cluster", "get", name_});
  EXPECT_NE(get.exit_code, 0);
}

TEST_F(ClusterTest, NodesJoinInTwoZonesAndACrashedInstanceIsTerminated) {
  std::ofstream(dir_ + "/nodes.yaml")
      << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << name_
      << "}\navailabilityZones: [local-1a, local-1b]\nvpc: {cidr: " << cidr_
      << ", nat: {gateway: Single}}\n"
      << "managedNodeGroups:\n  - {name: ng-1, desiredCapacity: 2, minSize: 1, maxSize: 3}\n";
  CmdResult c = berth({"cluster", "create", "-f", dir_ + "/nodes.yaml", "--node-runtime",
                       "simulated", "--timeout", "3m"}, std::chrono::seconds(240));
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  CmdResult nodes = kubectl({"get", "nodes", "-o", "json"});
  ASSERT_EQ(nodes.exit_code, 0) << nodes.err;
  auto items = nlohmann::json::parse(nodes.out)["items"];
  ASSERT_EQ(items.size(), 2u);
  std::set<std::string> zones;
  for (const auto& n : items) {
    const auto& labels = n["metadata"]["labels"];
    std::string zone = labels.value("topology.kubernetes.io/zone", "");
    zones.insert(zone);
    EXPECT_EQ(labels.value("eks.amazonaws.com/nodegroup", ""), "ng-1");
    EXPECT_EQ(labels.value("eks.amazonaws.com/capacityType", ""), "ON_DEMAND");
    EXPECT_EQ(labels.value("node.kubernetes.io/instance-type", ""), "m5.large");
    std::string name = n["metadata"]["name"];
    EXPECT_EQ(n["spec"].value("providerID", ""), "local:///" + zone + "/" + name);
  }
  EXPECT_EQ(zones, (std::set<std::string>{"local-1a", "local-1b"}));

  std::string victim = items[0]["metadata"]["name"];
  CmdResult crash = berth({"cloud", "inject", "instance-crash", "--cluster", name_, victim});
  ASSERT_EQ(crash.exit_code, 0) << crash.err;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string listing;
  while (std::chrono::steady_clock::now() < deadline) {
    listing = berth({"cloud", "instances", "--cluster", name_}).out;
    size_t at = listing.find(victim);
    if (at != std::string::npos &&
        listing.substr(at, listing.find('\n', at) - at).find("Server.InternalError") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  size_t at = listing.find(victim);
  ASSERT_NE(at, std::string::npos) << listing;
  EXPECT_NE(listing.substr(at, listing.find('\n', at) - at).find("terminated"), std::string::npos)
      << listing;

  // The managed group replaces the failed instance: two Ready nodes again, the victim not one.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  int ready_others = 0;
  while (std::chrono::steady_clock::now() < deadline && ready_others < 2) {
    ready_others = 0;
    auto list = nlohmann::json::parse(kubectl({"get", "nodes", "-o", "json"}).out)["items"];
    for (const auto& n : list) {
      if (n["metadata"]["name"] == victim) continue;
      for (const auto& cond : n["status"].value("conditions", nlohmann::json::array())) {
        if (cond.value("type", "") == "Ready" && cond.value("status", "") == "True") ++ready_others;
      }
    }
    if (ready_others < 2) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(ready_others, 2) << "no replacement joined for " << victim;
}

TEST_F(ClusterTest, BadConfigIsRefusedBeforeAnythingIsMade) {
  std::ofstream(dir_ + "/bad.yaml") << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\n"
                                       "metadata: {name: " << name_ << "}\n"
                                       "managedNodeGroups: [{name: a, minSize: 3, maxSize: 1}]\n";
  CmdResult r = berth({"cluster", "create", "-f", dir_ + "/bad.yaml"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("managedNodeGroups[0].minSize"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ + "/state/" + name_));
}

}  // namespace
}  // namespace berth::e2e
