// Two local clusters on one machine (root): `berth cluster create` of two clusters with their
// own VPC CIDRs (simulated node runtime, one node each), both answering kubectl with their own
// Ready node; a third cluster asking for the first one's CIDR is refused before anything is
// made, naming vpc.cidr, the cluster using it and a free CIDR; deleting the first leaves the
// second working and nothing of the first behind (namespaces, host links, nft tables, processes,
// files, kubeconfig).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/e2e/cluster_workspace.h"

namespace berth::e2e {
namespace {

namespace fs = std::filesystem;

class TwoClustersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    ws_ = std::make_unique<ClusterWorkspace>("two", "kube/config");
    dir_ = ws_->dir();
    a_ = randomClusterName("t");
    b_ = randomClusterName("t");
    c_ = randomClusterName("t");
    // CIDRs of their own, so tests running at once never share addresses.
    cidr_a_ = randomVpcCidr();
    cidr_b_ = "10." + std::to_string(std::stoi(cidr_a_.substr(3)) + 1) + ".0.0/16";
  }
  void TearDown() override {
    if (!ws_) return;
    for (const std::string& n : {a_, b_, c_})
      if (fs::exists(ws_->stateDir(n))) berth({"cluster", "delete", n}, std::chrono::seconds(120));
  }
  std::string writeConfig(const std::string& name, const std::string& cidr) {
    std::string path = dir_ + "/" + name + ".yaml";
    std::ofstream(path) << "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: " << name
                        << "}\navailabilityZones: [local-1a, local-1b]\nvpc: {cidr: " << cidr
                        << ", nat: {gateway: Single}}\n"
                        << "managedNodeGroups:\n  - {name: ng-1, desiredCapacity: 1, minSize: 1, maxSize: 2}\n";
    return path;
  }
  CmdResult berth(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(240)) {
    return ws_->berth(args, timeout);
  }
  CmdResult create(const std::string& name, const std::string& cidr) {
    return berth({"cluster", "create", "-f", writeConfig(name, cidr), "--node-runtime", "simulated", "--timeout",
                  "3m"});
  }
  // The names of the cluster's Ready nodes, through its own kubeconfig.
  std::vector<std::string> readyNodes(const std::string& cluster) {
    CmdResult r = run({"kubectl", "--kubeconfig", dir_ + "/state/" + cluster + "/kubeconfig", "get", "nodes", "-o",
                       "json", "--request-timeout", "20s"},
                      "", ws_->env());
    EXPECT_EQ(r.exit_code, 0) << cluster << ": " << r.err;
    std::vector<std::string> out;
    if (r.exit_code != 0) return out;
    nlohmann::json list = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(list.is_object() && list["items"].is_array()) << cluster << ": " << r.out;
    if (!list.is_object() || !list["items"].is_array()) return out;
    for (const auto& n : list["items"])
      for (const auto& cond : n["status"].value("conditions", nlohmann::json::array()))
        if (cond.value("type", "") == "Ready" && cond.value("status", "") == "True")
          out.push_back(n["metadata"]["name"]);
    return out;
  }
  std::string sh(const std::string& cmd) { return run({"sh", "-c", cmd}).out; }
  // The host links of a cluster: those whose alias names it, and those with its link prefix.
  std::string hostLinksOf(const std::string& cluster, const std::string& prefix) {
    return sh("ip -o link show | grep -e 'alias berth cluster " + cluster + "$' -e ': " + prefix + "' || true");
  }
  std::string linkPrefix(const std::string& cluster) {
    std::ifstream f(dir_ + "/state/" + cluster + "/cloud/network.json");
    if (!f) return "";
    nlohmann::json state = nlohmann::json::parse(f, nullptr, false);
    return state.is_object() && state["prefix"].is_string() ? state["prefix"].get<std::string>() : "";
  }

  std::unique_ptr<ClusterWorkspace> ws_;
  std::string dir_, a_, b_, c_, cidr_a_, cidr_b_;
};

TEST_F(TwoClustersTest, CoexistRefuseASharedCidrAndDeleteExactlyOne) {
  CmdResult ca = create(a_, cidr_a_);
  ASSERT_EQ(ca.exit_code, 0) << ca.out << ca.err;
  CmdResult cb = create(b_, cidr_b_);
  ASSERT_EQ(cb.exit_code, 0) << cb.out << cb.err;

  // Each control plane answers and sees exactly its own Ready node.
  std::vector<std::string> nodes_a = readyNodes(a_), nodes_b = readyNodes(b_);
  ASSERT_EQ(nodes_a.size(), 1u);
  ASSERT_EQ(nodes_b.size(), 1u);
  EXPECT_NE(nodes_a[0], nodes_b[0]);

  // A third cluster on A's CIDR is refused before anything is made.
  CmdResult cc = create(c_, cidr_a_);
  EXPECT_NE(cc.exit_code, 0) << cc.out;
  EXPECT_NE(cc.err.find("vpc.cidr"), std::string::npos) << cc.err;
  EXPECT_NE(cc.err.find("\"" + a_ + "\""), std::string::npos) << "the error names the cluster using it: " << cc.err;
  EXPECT_NE(cc.err.find("is free now"), std::string::npos) << cc.err;
  EXPECT_FALSE(fs::exists(dir_ + "/state/" + c_)) << "the refused create left state";
  EXPECT_EQ(sh("ip netns list | grep -c -- '-" + c_ + "-' || true"), "0\n");

  std::string prefix_a = linkPrefix(a_), prefix_b = linkPrefix(b_);
  ASSERT_FALSE(prefix_a.empty());
  ASSERT_NE(prefix_a, prefix_b);
  ASSERT_NE(hostLinksOf(a_, prefix_a), "") << "A's host legs carry its alias or prefix";
  std::string b_namespaces = sh("ip netns list | grep -- 'berth-" + b_ + "-' | cut -d' ' -f1 | sort");
  std::string b_tables = sh("nft list tables | grep -- '" + b_ + "' | sort");
  ASSERT_NE(b_namespaces, "");

  CmdResult del = berth({"cluster", "delete", a_}, std::chrono::seconds(120));
  ASSERT_EQ(del.exit_code, 0) << del.out << del.err;

  // Nothing of A is left.
  EXPECT_EQ(sh("ip netns list | grep -c -- 'berth-" + a_ + "-' || true"), "0\n");
  EXPECT_EQ(hostLinksOf(a_, prefix_a), "");
  EXPECT_EQ(sh("nft list tables | grep -c -- '" + a_ + "' || true"), "0\n");
  EXPECT_EQ(run({"pgrep", "-f", "-c", dir_ + "/state/" + a_ + "/"}).out, "0\n");
  EXPECT_EQ(sh("ip -4 -o route show | grep -c -F '" + cidr_a_ + "' || true"), "0\n");
  EXPECT_FALSE(fs::exists(dir_ + "/state/" + a_));

  // B is untouched and still answers with its Ready node.
  EXPECT_EQ(readyNodes(b_), nodes_b);
  EXPECT_EQ(sh("ip netns list | grep -- 'berth-" + b_ + "-' | cut -d' ' -f1 | sort"), b_namespaces);
  EXPECT_EQ(sh("nft list tables | grep -- '" + b_ + "' | sort"), b_tables);
  EXPECT_NE(sh("ip -4 -o route show | grep -F '" + cidr_b_ + "' || true"), "");

  // A's CIDR is free again: C can take it now.
  CmdResult cc2 = create(c_, cidr_a_);
  EXPECT_EQ(cc2.exit_code, 0) << cc2.out << cc2.err;
  EXPECT_EQ(readyNodes(c_).size(), 1u);
}

}  // namespace
}  // namespace berth::e2e
