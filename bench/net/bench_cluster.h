// BenchCluster: a real local cluster brought up the way users do it, for net_bench. A test
// registry (scripts/test-registry.sh) on the host's loopback holds berth/busybox:1; `berth
// cluster create -f` brings up a ClusterConfig with one managed group of private runc nodes,
// one per zone; teardown() runs `berth cluster delete`, stops the registry and reports what is
// left (namespaces, nft tables, processes named after the cluster). The process environment gets
// BERTH_STATE_DIR, KUBECONFIG and HOME under a temp dir, so kubectl and berth use this cluster.
// Thread-safety: teardown() may race with the other methods (from the signal thread); it runs
// once.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "bench/net/proc.h"
#include "common/status.h"

namespace berth::bench::net {

class BenchCluster {
 public:
  BenchCluster(std::string berth_bin, std::string registry_script, int nodes);

  Status create();
  // Removes the cluster, the registry and the temp dir; returns what was left behind (empty
  // when nothing). Runs once.
  std::vector<std::string> teardown();

  const std::string& name() const { return name_; }
  std::string kubeconfig() const;
  // The network namespace of a node (node name = instance id).
  std::string nodeNetns(const std::string& node) const { return "berth-" + name_ + "-" + node; }
  // "localhost:PORT/berth/busybox:1".
  std::string image() const { return "localhost:" + registry_port_ + "/berth/busybox:1"; }
  // The cloud's network state (network.json), for the host leg prefix and public block.
  std::string networkStatePath() const;
  // A node's agent log (node name = instance id).
  std::string agentLogPath(const std::string& node) const;

  CommandResult kubectl(const std::vector<std::string>& args, const std::string& input = "",
                        std::chrono::seconds timeout = std::chrono::seconds(120)) const;
  Result<std::string> kubectlOk(const std::vector<std::string>& args, const std::string& input = "",
                                std::chrono::seconds timeout = std::chrono::seconds(120)) const;

 private:
  Status startRegistry();
  std::vector<std::string> leftovers() const;

  std::string bin_, registry_script_;
  int nodes_;
  std::string dir_, name_, registry_port_;
  std::once_flag torn_down_;
  std::vector<std::string> left_;
};

}  // namespace berth::bench::net
