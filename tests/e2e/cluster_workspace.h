// A workspace for root end-to-end tests of local clusters (`berth cluster create`): a temp dir
// that holds the clusters' state (BERTH_STATE_DIR), the user's kubeconfig and HOME, so tests
// running at once never share state, with helpers that run berth and kubectl in it.
//
// Not thread-safe: one per test (or per suite). The destructor removes the dir; deleting the
// clusters made in it is the test's job (tests check what delete leaves behind).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/e2e/harness.h"

namespace berth::e2e {

class ClusterWorkspace {
 public:
  // Makes /tmp/berth-e2e-<tag>-XXXXXX. `kubeconfig` is the user's kubeconfig path below the dir.
  explicit ClusterWorkspace(const std::string& tag, const std::string& kubeconfig = "kubeconfig");
  ~ClusterWorkspace();
  ClusterWorkspace(const ClusterWorkspace&) = delete;
  ClusterWorkspace& operator=(const ClusterWorkspace&) = delete;

  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& env() const { return env_; }
  std::string stateDir(const std::string& cluster) const { return dir_ + "/state/" + cluster; }

  // `berth ARGS` with the workspace's environment.
  CmdResult berth(const std::vector<std::string>& args,
                  std::chrono::seconds timeout = std::chrono::seconds(300)) const;
  // `kubectl ARGS` with the workspace's environment (its current context).
  CmdResult kubectl(const std::vector<std::string>& args, const std::string& input = "",
                    std::chrono::seconds timeout = std::chrono::seconds(200)) const;
  // kubectl's stdout, with a test failure naming the command when it fails.
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") const;
  // The local cloud's network state of `cluster` (network.json), {} when there is none.
  nlohmann::json networkState(const std::string& cluster) const;

 private:
  std::string dir_;
  std::vector<std::string> env_;
};

// `prefix` followed by five random lower-case letters and digits: a cluster name of its own.
std::string randomClusterName(const std::string& prefix);
// 10.X.0.0/16 with X random in [100, 198], so tests running at once never share addresses.
std::string randomVpcCidr();
// The ClusterConfig most root cluster tests use: `zones`, a Single NAT gateway, and one managed
// group `ng-1` of m5.large nodes in private subnets.
std::string privateClusterConfig(const std::string& name, const std::vector<std::string>& zones,
                                 const std::string& cidr, int desired, int min_size, int max_size);
// Processes (other than this one) whose command line contains `needle`.
int processesMatching(const std::string& needle);
// Why a root cluster test cannot run here ("" when it can): not root, or one of `tools` missing.
std::string missingPrerequisite(const std::vector<std::string>& tools);

// The fixture of tests that make one local cluster `name_` in a workspace of their own.
class LocalClusterTest : public ::testing::Test {
 protected:
  // Makes the workspace (/tmp/berth-e2e-<tag>-...) and names the cluster <prefix>xxxxx.
  void makeWorkspace(const std::string& tag, const std::string& prefix) {
    ws_ = std::make_unique<ClusterWorkspace>(tag);
    name_ = randomClusterName(prefix);
  }
  CmdResult berth(const std::vector<std::string>& args,
                  std::chrono::seconds timeout = std::chrono::seconds(300)) const {
    return ws_->berth(args, timeout);
  }
  CmdResult kubectl(const std::vector<std::string>& args, const std::string& input = "") const {
    return ws_->kubectl(args, input);
  }
  std::string ok(const std::vector<std::string>& args, const std::string& input = "") const {
    return ws_->ok(args, input);
  }
  // Writes the cluster's ClusterConfig (privateClusterConfig) and returns its path.
  std::string writeConfig(const std::vector<std::string>& zones, int desired, int min_size, int max_size) const;

  std::unique_ptr<ClusterWorkspace> ws_;
  std::string name_;
};

}  // namespace berth::e2e
