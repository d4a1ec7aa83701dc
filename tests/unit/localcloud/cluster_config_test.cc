#include "nodegroups/config/cluster_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace berth::nodegroups::config {
namespace {

std::string readTestdata(const std::string& name) {
  std::ifstream in(std::string(LOCALCLOUD_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool hasWarning(const ParsedClusterConfig& p, const std::string& prefix) {
  for (const auto& w : p.warnings) {
    if (w.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

// The error of parsing `yaml`, or "" when it parses.
std::string errorOf(const std::string& yaml) {
  auto r = parseClusterConfig(yaml);
  return r.isOk() ? "" : r.status().message();
}

const char kHead[] = "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: c1}\n";

TEST(ClusterConfig, MinimalGetsEksctlDefaultsAndTheLocalRegion) {
  auto r = parseClusterConfig(readTestdata("minimal.yaml"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const ClusterConfig& c = r->config;
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(c.region, "local-1");
  EXPECT_EQ(c.version, "1.32");
  EXPECT_EQ(c.zones, (std::vector<std::string>{"local-1a", "local-1b", "local-1c"}));
  EXPECT_EQ(c.vpc.cidr, "");  // planNetwork's default
  ASSERT_EQ(c.node_groups.size(), 1u);
  const NodeGroupConfig& g = c.node_groups[0];
  EXPECT_TRUE(g.managed);
  EXPECT_EQ(g.instance_types, std::vector<std::string>{"m5.large"});
  EXPECT_EQ(g.desired, 2);
  EXPECT_EQ(g.min, 2);
  EXPECT_EQ(g.max, 2);
  EXPECT_EQ(g.zones, c.zones);
  EXPECT_EQ(g.volume_size, 80);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ClusterConfig, FullFileReadsEveryField) {
  auto r = parseClusterConfig(readTestdata("full.yaml"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const ClusterConfig& c = r->config;
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_EQ(c.version, "1.31");
  EXPECT_EQ(c.tags.at("team"), "core");
  EXPECT_EQ(c.vpc.cidr, "10.20.0.0/16");
  EXPECT_EQ(c.vpc.nat_gateway, "HighlyAvailable");
  EXPECT_TRUE(c.endpoint_private_access);
  EXPECT_EQ(c.public_access_cidrs, std::vector<std::string>{"203.0.113.0/24"});
  ASSERT_EQ(c.node_groups.size(), 3u);

  const NodeGroupConfig& sys = c.node_groups[0];
  EXPECT_EQ(sys.name, "system");
  EXPECT_EQ(sys.instance_types, (std::vector<std::string>{"m6i.large", "m5.large"}));
  EXPECT_EQ(sys.desired, 3);
  EXPECT_EQ(sys.min, 2);
  EXPECT_EQ(sys.max, 6);
  EXPECT_TRUE(sys.private_networking);
  EXPECT_EQ(sys.max_unavailable_percentage, 33);
  ASSERT_EQ(sys.taints.size(), 1u);
  EXPECT_EQ(sys.taints[0].key, "CriticalAddonsOnly");
  EXPECT_EQ(sys.taints[0].value, "true");

  const NodeGroupConfig& spot = c.node_groups[1];
  EXPECT_TRUE(spot.spot);
  EXPECT_EQ(spot.desired, 0);  // defaults to minSize
  EXPECT_EQ(spot.max, 20);
  EXPECT_EQ(spot.zones, std::vector<std::string>{"eu-west-1b"});

  const NodeGroupConfig& web = c.node_groups[2];
  EXPECT_FALSE(web.managed);
  EXPECT_EQ(web.desired, 3);
  EXPECT_EQ(web.max, 12);
  ASSERT_TRUE(web.instances_distribution.has_value());
  EXPECT_EQ(web.instances_distribution->on_demand_base_capacity, 2);
  EXPECT_EQ(web.instances_distribution->on_demand_percentage_above_base_capacity, 25);
  EXPECT_EQ(web.instance_types.size(), 3u);
  ASSERT_EQ(web.taints.size(), 1u);  // the legacy map form
  EXPECT_EQ(web.taints[0].key, "dedicated");
  EXPECT_EQ(web.taints[0].value, "web");
  EXPECT_EQ(web.taints[0].effect, "NoSchedule");
  EXPECT_EQ(web.max_pods_per_node, 58);
  EXPECT_EQ(web.volume_size, 40);
  EXPECT_EQ(web.pre_bootstrap_commands.size(), 1u);

  ASSERT_EQ(c.fargate_profiles.size(), 1u);
  EXPECT_EQ(c.fargate_profiles[0].selectors.size(), 2u);
  EXPECT_EQ(c.fargate_profiles[0].selectors[1].labels.at("runtime"), "serverless");

  EXPECT_TRUE(hasWarning(*r, "iam: not supported by Berth")) << r->warnings.size();
  EXPECT_TRUE(hasWarning(*r, "addons: not supported by Berth"));
  EXPECT_TRUE(hasWarning(*r, "managedNodeGroups[0].ssh: not supported by Berth"));
  EXPECT_EQ(r->warnings.size(), 3u);
}

TEST(ClusterConfig, SubnetsGiveZonesAndAliases) {
  auto r = parseClusterConfig(readTestdata("subnets.yaml"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->config.zones, (std::vector<std::string>{"local-1a", "local-1b"}));
  EXPECT_EQ(r->config.vpc.public_subnets.at("local-1a"), "10.0.0.0/20");
  EXPECT_EQ(r->config.vpc.private_subnets.at("local-1b"), "10.0.144.0/20");
}

TEST(ClusterConfig, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string field;
  };
  const std::string h = kHead;
  std::vector<Case> cases = {
      {"apiVersion: eksctl.io/v1alpha4\nkind: ClusterConfig\nmetadata: {name: a}\n", "apiVersion"},
      {"apiVersion: eksctl.io/v1alpha5\nkind: Cluster\nmetadata: {name: a}\n", "kind"},
      {"apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {region: x}\n", "metadata.name"},
      {"apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: Bad_Name}\n", "metadata.name"},
      {"apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata: {name: a, version: 1.30}\n",
       "metadata.version"},
      {h + "availabilityZones: [local-1a]\n", "availabilityZones"},
      {h + "availabilityZones: [local-1a, local-1a]\n", "availabilityZones[1]"},
      {h + "vpc: {nat: {gateway: Double}}\n", "vpc.nat.gateway"},
      {h + "vpc: {subnets: {private: {local-1a: {id: subnet-1}}}}\n", "vpc.subnets.private.local-1a.cidr"},
      {h + "managedNodeGroups: [{instanceType: m5.large}]\n", "managedNodeGroups[0].name"},
      {h + "managedNodeGroups: [{name: a, minSize: 3, maxSize: 2}]\n", "managedNodeGroups[0].minSize"},
      {h + "managedNodeGroups: [{name: a, desiredCapacity: 5, maxSize: 2}]\n",
       "managedNodeGroups[0].desiredCapacity"},
      {h + "managedNodeGroups: [{name: a, desiredCapacity: -1}]\n", "managedNodeGroups[0].desiredCapacity"},
      {h + "managedNodeGroups: [{name: a}, {name: a}]\n", "managedNodeGroups[1].name"},
      {h + "managedNodeGroups: [{name: a}]\nnodeGroups: [{name: a}]\n", "nodeGroups[0].name"},
      {h + "managedNodeGroups: [{name: a, instanceType: m5.large, instanceTypes: [c5.large]}]\n",
       "managedNodeGroups[0].instanceTypes"},
      {h + "managedNodeGroups: [{name: a, instancesDistribution: {instanceTypes: [m5.large]}}]\n",
       "managedNodeGroups[0].instancesDistribution"},
      {h + "nodeGroups: [{name: a, spot: true}]\n", "nodeGroups[0].spot"},
      {h + "nodeGroups: [{name: a, instancesDistribution: {onDemandBaseCapacity: 1}}]\n",
       "nodeGroups[0].instancesDistribution.instanceTypes"},
      {h + "nodeGroups: [{name: a, instancesDistribution: {instanceTypes: [m5.large], "
           "onDemandPercentageAboveBaseCapacity: 101}}]\n",
       "nodeGroups[0].instancesDistribution.onDemandPercentageAboveBaseCapacity"},
      {h + "nodeGroups: [{name: a, instancesDistribution: {instanceTypes: [m5.large], "
           "spotAllocationStrategy: cheapest}}]\n",
       "nodeGroups[0].instancesDistribution.spotAllocationStrategy"},
      {h + "managedNodeGroups: [{name: a, taints: [{key: k, effect: Never}]}]\n",
       "managedNodeGroups[0].taints[0].effect"},
      {h + "managedNodeGroups: [{name: a, taints: {k: 'v:NoSchedule'}}]\n", "managedNodeGroups[0].taints"},
      {h + "managedNodeGroups: [{name: a, availabilityZones: [local-1z]}]\n",
       "managedNodeGroups[0].availabilityZones[0]"},
      {h + "managedNodeGroups: [{name: a, updateConfig: {maxUnavailable: 1, maxUnavailablePercentage: 5}}]\n",
       "managedNodeGroups[0].updateConfig"},
      {h + "managedNodeGroups: [{name: a, amiFamily: Windows2019Full}]\n", "managedNodeGroups[0].amiFamily"},
      {h + "managedNodeGroups: [{name: a, labels: {'bad key!': x}}]\n", "managedNodeGroups[0].labels.bad key!"},
      {h + "managedNodeGroups: [{name: a, privateNetworking: maybe}]\n",
       "managedNodeGroups[0].privateNetworking"},
      {h + "managedNodeGroups: [{name: a, instanceType: m5.larg}]\n", "managedNodeGroups[0].instanceType"},
      {h + "managedNodeGroups: [{name: a, instanceTypes: [c5.large, c6i.larg]}]\n",
       "managedNodeGroups[0].instanceTypes[1]"},
      {h + "nodeGroups: [{name: a, instancesDistribution: {instanceTypes: [m9.large]}}]\n",
       "nodeGroups[0].instancesDistribution.instanceTypes[0]"},
      {h + "fargateProfiles: [{name: f}]\n", "fargateProfiles[0].selectors"},
      {h + "fargateProfiles: [{name: f, selectors: [{labels: {a: b}}]}]\n",
       "fargateProfiles[0].selectors[0].namespace"},
  };
  for (const Case& c : cases) {
    std::string err = errorOf(c.yaml);
    EXPECT_EQ(err.rfind(c.field + ":", 0), 0u) << "want an error on " << c.field << " for\n"
                                               << c.yaml << "got: " << err;
  }
}

TEST(ClusterConfig, UnknownInstanceTypeListsTheNearestValidNames) {
  std::string err = errorOf(std::string(kHead) + "managedNodeGroups: [{name: a, instanceType: c6i.larg}]\n");
  EXPECT_NE(err.find("unknown instance type \"c6i.larg\""), std::string::npos) << err;
  EXPECT_NE(err.find("nearest: c6i.large"), std::string::npos) << err;
}

TEST(ClusterConfig, YamlSyntaxErrorsSayWhere) {
  auto r = parseClusterConfig("apiVersion: [\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("line"), std::string::npos) << r.status().message();
}

TEST(ClusterConfig, UnknownFieldsWarnAtEveryLevel) {
  auto r = parseClusterConfig(std::string(kHead) +
                              "karpenter: {version: '1.0'}\nsurprise: 1\n"
                              "vpc: {cidr: 10.1.0.0/16, securityGroup: sg-1}\n"
                              "nodeGroups: [{name: a, iam: {}, kubeletExtraConfig: {}, colour: red}]\n"
                              "fargateProfiles: [{name: f, selectors: [{namespace: x, extra: 1}]}]\n");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(hasWarning(*r, "karpenter: not supported by Berth"));
  EXPECT_TRUE(hasWarning(*r, "surprise: unknown field"));
  EXPECT_TRUE(hasWarning(*r, "vpc.securityGroup: not supported by Berth"));
  EXPECT_TRUE(hasWarning(*r, "nodeGroups[0].iam: not supported"));
  EXPECT_TRUE(hasWarning(*r, "nodeGroups[0].kubeletExtraConfig: not supported"));
  EXPECT_TRUE(hasWarning(*r, "nodeGroups[0].colour: unknown field"));
  EXPECT_TRUE(hasWarning(*r, "fargateProfiles[0].selectors[0].extra: unknown field"));
  EXPECT_EQ(r->warnings.size(), 7u);
}

TEST(ClusterConfig, SizesDefaultAsEksctl) {
  auto sizes = [](const std::string& group) {
    auto r = parseClusterConfig(std::string(kHead) + "managedNodeGroups: [" + group + "]\n");
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    const auto& g = r->config.node_groups.at(0);
    return std::vector<int>{g.min, g.desired, g.max};
  };
  EXPECT_EQ(sizes("{name: a, desiredCapacity: 4}"), (std::vector<int>{4, 4, 4}));
  EXPECT_EQ(sizes("{name: a, minSize: 1}"), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(sizes("{name: a, maxSize: 5}"), (std::vector<int>{2, 2, 5}));
  EXPECT_EQ(sizes("{name: a, maxSize: 1}"), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(sizes("{name: a, minSize: 1, maxSize: 3}"), (std::vector<int>{1, 1, 3}));
}

TEST(ClusterConfig, NodeGroupObjectCarriesTheGroup) {
  auto r = parseClusterConfig(readTestdata("full.yaml"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const ClusterConfig& c = r->config;
  nlohmann::json sys = toNodeGroupObject(c, c.node_groups[0]);
  EXPECT_EQ(sys["apiVersion"], "berth.dev/v1alpha1");
  EXPECT_EQ(sys["kind"], "NodeGroup");
  EXPECT_EQ(sys["metadata"]["name"], "system");
  EXPECT_EQ(sys["metadata"]["labels"]["berth.dev/cluster"], "shop");
  EXPECT_EQ(sys["spec"]["type"], "managed");
  EXPECT_EQ(sys["spec"]["capacityType"], "ON_DEMAND");
  EXPECT_EQ(sys["spec"]["scaling"], (nlohmann::json{{"minSize", 2}, {"maxSize", 6}, {"desiredSize", 3}}));
  EXPECT_EQ(sys["spec"]["updateConfig"]["maxUnavailable"], "33%");
  EXPECT_EQ(sys["spec"]["privateNetworking"], true);
  EXPECT_EQ(sys["spec"]["version"], "1.31");
  EXPECT_EQ(sys["spec"]["taints"][0]["key"], "CriticalAddonsOnly");
  EXPECT_EQ(sys["spec"]["zones"].size(), 3u);

  nlohmann::json spot = toNodeGroupObject(c, c.node_groups[1]);
  EXPECT_EQ(spot["spec"]["capacityType"], "SPOT");

  nlohmann::json web = toNodeGroupObject(c, c.node_groups[2]);
  EXPECT_EQ(web["spec"]["type"], "self-managed");
  EXPECT_EQ(web["spec"]["instancesDistribution"]["onDemandBaseCapacity"], 2);
  EXPECT_EQ(web["spec"]["instancesDistribution"]["spotAllocationStrategy"], "price-capacity-optimized");
  EXPECT_EQ(web["spec"]["maxPods"], 58);
  EXPECT_EQ(web["spec"]["diskSize"], 40);
  EXPECT_EQ(web["spec"]["preBootstrapCommands"][0], "sysctl -w net.core.somaxconn=4096");

  nlohmann::json fp = toFargateProfileObject(c, c.fargate_profiles[0]);
  EXPECT_EQ(fp["kind"], "FargateProfile");
  EXPECT_EQ(fp["spec"]["selectors"][1]["labels"]["runtime"], "serverless");
}

TEST(ClusterConfig, DryRunYamlParsesBackToTheSameConfig) {
  auto r = parseClusterConfig(readTestdata("full.yaml"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::string y = toYaml(r->config);
  auto again = parseClusterConfig(y);
  ASSERT_TRUE(again.isOk()) << again.status().toString() << "\n" << y;
  EXPECT_TRUE(again->warnings.empty()) << again->warnings[0];
  EXPECT_EQ(toYaml(again->config), y);
  EXPECT_EQ(again->config.node_groups.size(), 3u);
  EXPECT_EQ(again->config.vpc.nat_gateway, "HighlyAvailable");
}

}  // namespace
}  // namespace berth::nodegroups::config
