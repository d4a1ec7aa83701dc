// `berth agent` flags, parsed and validated into AgentOptions (errors name the bad flag).
// Thread-safety: values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace berth::kubelet {

struct NodeTaint {
  std::string key, value, effect;
};

struct AgentOptions {
  std::string kubeconfig;
  // A NodeConfig (plain or MIME multipart) to join with: see node_join.h.
  std::string user_data;
  int64_t bootstrap_timeout_seconds = 300;  // how long the join waits for its certificate
  std::vector<NodeTaint> taints;  // registered with the Node when it is created
  std::string runtime;  // "runc" | "process" | "simulated"
  std::string node_name;  // default: the host name (simulated: prefix + index)
  std::string zone;
  std::string region;
  std::string instance_type;
  std::string provider_id;  // Node spec.providerID, e.g. local:///local-1a/i-0123...
  // Poll the instance metadata endpoint (169.254.169.254) for a spot interruption notice and
  // record it on the Node (condition SpotInterruption, annotation berth.dev/interruption-time).
  bool cloud_metadata = false;
  // Set by runAgent (not a flag): extra Node conditions, see NodeIdentity::extra_conditions.
  std::function<nlohmann::json(std::chrono::system_clock::time_point)> extra_node_conditions;
  std::map<std::string, std::string> labels;
  std::string root_dir = "/var/lib/berth-agent";
  std::string node_ip;  // default: the host's first IPv4
  int64_t cpu_millis = 0;     // 0: from the host
  int64_t memory_bytes = 0;   // 0: from the host
  int64_t max_pods = 110;
  int kubelet_port = 10250;
  // Service proxy: "nftables" or "none"; empty picks nftables for --runtime runc, else none.
  std::string proxy_mode;
  // Resolver for ClusterFirst pods (kubelet's --cluster-dns); empty: the clusterIP of
  // kube-system/kube-dns when it exists (the runc runtime then also serves it with dnsmasq).
  std::string cluster_dns;
  std::string cluster_domain = "cluster.local";
  // The cluster CA (from the kubeconfig): the kubelet endpoint serves only clients it signed.
  std::string cluster_ca_pem;
  // Image pulls (runc): registries allowed over plain HTTP (--insecure-registry HOST:PORT), and
  // mirrors (--registry-mirror FROM=TO: images named FROM/... are pulled from TO).
  std::vector<std::string> insecure_registries;
  std::map<std::string, std::string> registry_mirrors;
  // simulated
  int nodes = 1;
  std::vector<std::string> zones;
  std::string node_name_prefix = "sim-node-";
  bool delete_nodes_on_exit = false;
  int sync_workers = 4;
};

extern const char kAgentUsage[];

// Parses the flags after `berth agent`. `help` is set for -h/--help.
Result<AgentOptions> parseAgentOptions(const std::vector<std::string>& args, bool* help);

}  // namespace berth::kubelet
