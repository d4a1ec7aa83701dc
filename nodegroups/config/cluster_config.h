// The eksctl ClusterConfig (apiVersion eksctl.io/v1alpha5, kind ClusterConfig) that
// `berth cluster create -f` reads: parsing, eksctl's defaults, validation, and the mapping of its
// node groups and Fargate profiles to Berth's NodeGroup and FargateProfile objects
// (berth.dev/v1alpha1).
//
// Defaults follow eksctl, except the region: "local-1" (the local cloud) when absent. Zones:
// the region's first three ("<region>a", "b", "c"). A group without sizes gets 2 nodes of
// m5.large. Errors are kInvalid and name the field ("managedNodeGroups[1].maxSize"); every
// field Berth accepts from eksctl but does not act on (iam, addons, cloudWatch, ssh, ...) and
// every field it does not know produce a warning naming it, never silence.
// The `vpc` section is kept as networking::VpcConfig; its carving and checks are
// networking::planNetwork's (called by `berth cluster create`).
// Thread-safety: pure functions over values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "networking/vpc_plan.h"

namespace berth::nodegroups::config {

struct Taint {
  std::string key;
  std::string value;
  std::string effect;  // NoSchedule | PreferNoSchedule | NoExecute
};

// ASG MixedInstancesPolicy of a self-managed group (eksctl's instancesDistribution).
struct InstancesDistribution {
  std::vector<std::string> instance_types;
  std::optional<double> max_price;
  int on_demand_base_capacity = 0;
  int on_demand_percentage_above_base_capacity = 100;
  int spot_instance_pools = 2;
  std::string spot_allocation_strategy;  // empty: EC2's default (lowest-price)
  bool capacity_rebalance = false;
};

struct NodeGroupConfig {
  std::string name;
  bool managed = true;  // managedNodeGroups (true) or nodeGroups (false)
  std::vector<std::string> instance_types;  // at least one after defaulting
  int desired = 2;
  int min = 2;
  int max = 2;
  std::map<std::string, std::string> labels;
  std::vector<Taint> taints;
  bool private_networking = false;
  std::vector<std::string> zones;  // defaulted to the cluster's zones
  bool spot = false;               // managed groups: spot: true
  std::optional<InstancesDistribution> instances_distribution;  // self-managed groups
  std::optional<int> max_unavailable;
  std::optional<int> max_unavailable_percentage;
  std::vector<std::string> pre_bootstrap_commands;
  int max_pods_per_node = 0;  // 0: not set
  int volume_size = 80;       // GiB
  std::string ami_family = "AmazonLinux2023";
  std::map<std::string, std::string> tags;
};

struct FargateSelector {
  std::string namespace_;
  std::map<std::string, std::string> labels;
};

struct FargateProfileConfig {
  std::string name;
  std::vector<FargateSelector> selectors;
  std::vector<std::string> subnets;
  std::string pod_execution_role_arn;
  std::map<std::string, std::string> tags;
};

struct ClusterConfig {
  std::string name;
  std::string region;
  std::string version;  // Kubernetes minor, e.g. "1.32"
  std::map<std::string, std::string> tags;
  std::vector<std::string> zones;
  networking::VpcConfig vpc;
  bool endpoint_public_access = true;
  bool endpoint_private_access = false;
  std::vector<std::string> public_access_cidrs;
  std::vector<NodeGroupConfig> node_groups;  // managed groups first, in file order
  std::vector<FargateProfileConfig> fargate_profiles;
};

struct ParsedClusterConfig {
  ClusterConfig config;
  // "iam: not supported by Berth; ignored", "nodeGroups[0].ssh: ..." (one per field, file order).
  std::vector<std::string> warnings;
};

struct ParseOptions {
  std::string default_region = "local-1";
  std::string default_version = "1.32";
  // Longest cluster name accepted (the local cloud names namespaces and links after it).
  size_t max_name_length = 20;
};

// Parses one ClusterConfig YAML (or JSON) document, applies defaults and validates it.
// Errors: kBadRequest for YAML syntax, kInvalid naming the field for everything else.
Result<ParsedClusterConfig> parseClusterConfig(std::string_view text,
                                               const ParseOptions& opts = {});

// The NodeGroup object (berth.dev/v1alpha1) for a group, labelled with the cluster's name.
nlohmann::json toNodeGroupObject(const ClusterConfig& cluster, const NodeGroupConfig& group);
// The FargateProfile object (berth.dev/v1alpha1) for a profile.
nlohmann::json toFargateProfileObject(const ClusterConfig& cluster,
                                      const FargateProfileConfig& profile);
// The defaulted config as eksctl-shaped YAML (what `berth cluster create --dry-run` prints).
std::string toYaml(const ClusterConfig& cluster);

}  // namespace berth::nodegroups::config
