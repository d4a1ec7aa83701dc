#include "nodegroups/bootstrap/user_data.h"

#include <gtest/gtest.h>

#include "common/strings.h"
#include "tests/unit/nodegroups/bootstrap/golden.h"

namespace berth::nodegroups::bootstrap {
namespace {

UserDataParams groupParams() {
  UserDataParams p;
  p.cluster_name = "demo";
  p.api_server_endpoint = "https://10.0.0.1:6443";
  p.ca_pem = kTestCa;
  p.service_cidr = "10.100.0.0/16";
  p.bootstrap_token = "abcdef.0123456789abcdef";
  p.labels = {{"eks.amazonaws.com/nodegroup", "ng-1"},
              {"eks.amazonaws.com/capacityType", "SPOT"},
              {"team", "true"}};
  p.taints = {{"dedicated", "gpu", "NoSchedule"}, {"spot", "", "PreferNoSchedule"}};
  p.max_pods = 58;
  p.pre_bootstrap_commands = {"echo one", "#!/bin/bash\necho two\n"};
  return p;
}

TEST(RenderUserData, MatchesGolden) {
  auto ud = renderUserData(groupParams());
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  expectGolden("userdata_group.golden", *ud);
}

TEST(RenderUserData, MinimalMatchesGolden) {
  UserDataParams p;
  p.cluster_name = "c";
  p.api_server_endpoint = "https://127.0.0.1:6443";
  p.ca_pem = kTestCa;
  p.service_cidr = "10.96.0.0/12";
  auto ud = renderUserData(p);
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  expectGolden("userdata_minimal.golden", *ud);
}

TEST(RenderUserData, RoundTripsThroughParse) {
  auto text = renderUserData(groupParams());
  ASSERT_TRUE(text.isOk());
  auto ud = parseUserData(*text);
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  ASSERT_EQ(ud->scripts.size(), 2u);
  // The line break before a delimiter belongs to the delimiter (RFC 2046).
  EXPECT_EQ(ud->scripts[0].script, "#!/bin/sh\nset -e\necho one");
  EXPECT_EQ(ud->scripts[1].script, "#!/bin/bash\necho two");
  EXPECT_EQ(ud->config.cluster_name, "demo");
  EXPECT_EQ(ud->config.api_server_endpoint, "https://10.0.0.1:6443");
  EXPECT_EQ(ud->config.cidr, "10.100.0.0/16");
  EXPECT_EQ(ud->config.bootstrapToken(), "abcdef.0123456789abcdef");
  auto ca = ud->config.caPem();
  ASSERT_TRUE(ca.isOk());
  EXPECT_EQ(*ca, kTestCa);
  auto s = kubeletSettings(ud->config);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->labels, groupParams().labels);
  EXPECT_EQ(s->taints, groupParams().taints);
  EXPECT_EQ(s->max_pods, 58);
  ASSERT_EQ(s->cluster_dns.size(), 1u);
  EXPECT_EQ(s->cluster_dns[0], "10.100.0.10");
  EXPECT_TRUE(s->warnings.empty());
}

TEST(RenderUserData, RefusesMissingFieldsAndBadLabels) {
  UserDataParams p = groupParams();
  p.api_server_endpoint = "";
  auto r = renderUserData(p);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("spec.cluster.apiServerEndpoint"), std::string::npos);
  p = groupParams();
  p.labels["bad key!"] = "x";
  r = renderUserData(p);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("bad key!"), std::string::npos);
  p = groupParams();
  p.taints.push_back({"k", "v", "Sometimes"});
  EXPECT_FALSE(renderUserData(p).isOk());
}

TEST(ParseUserData, PlainNodeConfig) {
  auto ud = parseUserData(readTestdata("plain_nodeconfig.yaml"));
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  EXPECT_TRUE(ud->scripts.empty());
  EXPECT_EQ(ud->config.cluster_name, "plain");
  EXPECT_EQ(ud->config.kubelet_config["maxPods"], 17);
  EXPECT_EQ(ud->config.instance["localStorage"]["strategy"], "RAID0");
  EXPECT_EQ(ud->config.feature_gates["InstanceIdNodeName"], true);
  auto s = kubeletSettings(ud->config);
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->max_pods, 30) << "--max-pods overrides config.maxPods, as the kubelet does";
  EXPECT_EQ(s->provider_id, "berth://local-1a/i-0123");
  EXPECT_EQ(s->cluster_dns, std::vector<std::string>{"172.20.0.10"});
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("--cgroup-driver"), std::string::npos);
}

TEST(ParseUserData, MergesNodeConfigPartsInOrder) {
  auto ud = parseUserData(readTestdata("multi_part.mime"));
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  ASSERT_EQ(ud->scripts.size(), 1u);
  EXPECT_EQ(ud->scripts[0].name, "part 1 \"pre.sh\"");
  ASSERT_EQ(ud->warnings.size(), 1u);
  EXPECT_NE(ud->warnings[0].find("text/cloud-config"), std::string::npos);
  const NodeConfig& c = ud->config;
  EXPECT_EQ(c.cluster_name, "merged") << "cluster fields come from the first part";
  EXPECT_EQ(c.kubelet_config["maxPods"], 99) << "later parts win";
  EXPECT_EQ(c.kubelet_config["clusterDNS"], json::array({"10.100.0.10"})) << "maps merge";
  EXPECT_EQ(c.kubelet_flags, std::vector<std::string>{"--node-labels=from=second"}) << "lists replace";
  EXPECT_EQ(c.bootstrapToken(), "abcdef.0123456789abcdef") << "the base64 part's annotation";
}

TEST(MergeNodeConfigDocs, MapsMergeListsAndScalarsReplace) {
  json a = {{"spec", {{"kubelet", {{"config", {{"a", 1}, {"b", 2}}}, {"flags", {"x", "y"}}}}}}};
  json b = {{"spec", {{"kubelet", {{"config", {{"b", 3}}}, {"flags", {"z"}}}}}}};
  json m = mergeNodeConfigDocs(a, b);
  EXPECT_EQ(m["spec"]["kubelet"]["config"], (json{{"a", 1}, {"b", 3}}));
  EXPECT_EQ(m["spec"]["kubelet"]["flags"], json::array({"z"}));
}

TEST(ParseUserData, QuotedScalarsStayStrings) {
  NodeConfig c;
  c.cluster_name = "123";
  c.api_server_endpoint = "https://h:1";
  c.certificate_authority = base64Encode(kTestCa);
  c.cidr = "10.0.0.0/24";
  c.annotations["n"] = "true";
  c.instance = {{"environment", {{"default", {{"X", "0x10"}}}}}};
  auto ud = parseUserData(renderNodeConfigYaml(c));
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  EXPECT_EQ(ud->config.cluster_name, "123");
  EXPECT_EQ(ud->config.annotations["n"], "true");
  EXPECT_EQ(ud->config.instance, c.instance);
}

struct BadCase {
  const char* file;
  const char* want;  // the error must mention this
};

class BadUserData : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadUserData, NamesTheProblem) {
  auto ud = parseUserData(readTestdata(GetParam().file));
  ASSERT_FALSE(ud.isOk()) << GetParam().file;
  EXPECT_NE(ud.status().message().find(GetParam().want), std::string::npos)
      << GetParam().file << ": " << ud.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Files, BadUserData,
    ::testing::Values(BadCase{"bad_no_boundary.mime", "without a boundary"},
                      BadCase{"bad_part2_kind.mime", "part 2 (application/node.eks.aws): kind: must be NodeConfig"},
                      BadCase{"bad_flags_type.yaml", "spec.kubelet.flags: must be a list"},
                      BadCase{"bad_ca.yaml", "spec.cluster.certificateAuthority: is not valid base64"},
                      BadCase{"bad_endpoint.yaml", "spec.cluster.apiServerEndpoint: must be an https:// URL"},
                      BadCase{"bad_cidr.yaml", "spec.cluster.cidr: is not a CIDR"},
                      BadCase{"bad_only_shell.mime", "no application/node.eks.aws NodeConfig part"},
                      BadCase{"bad_script.txt", "is a shell script"},
                      BadCase{"bad_yaml.yaml", "user-data: yaml: line "},
                      BadCase{"bad_missing_name.yaml", "spec.cluster.name: required"},
                      BadCase{"bad_encoding.mime", "part 1 (application/node.eks.aws): unsupported Content-Transfer-Encoding"}));

TEST(RenderUserData, HostnameOverrideNamesTheNode) {
  UserDataParams p = groupParams();
  p.hostname_override = "fargate-serverless-job-1234abcd";
  auto text = renderUserData(p);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  auto ud = parseUserData(*text);
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  auto s = kubeletSettings(ud->config);
  ASSERT_TRUE(s.isOk()) << s.status().toString();
  EXPECT_EQ(s->hostname_override, "fargate-serverless-job-1234abcd");
  EXPECT_TRUE(s->warnings.empty());
  p.hostname_override.clear();
  auto plain = kubeletSettings(parseUserData(*renderUserData(p))->config);
  ASSERT_TRUE(plain.isOk());
  EXPECT_TRUE(plain->hostname_override.empty());
}

TEST(KubeletSettings, BadFlagsNameTheFlag) {
  NodeConfig c;
  c.kubelet_flags = {"--node-labels=a=b", "--register-with-taints=k=v:Sometimes"};
  auto s = kubeletSettings(c);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("spec.kubelet.flags[1]"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("Sometimes"), std::string::npos);
  c.kubelet_flags = {"--max-pods=lots"};
  s = kubeletSettings(c);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("--max-pods"), std::string::npos);
  c.kubelet_flags = {"node-labels=a=b"};
  EXPECT_FALSE(kubeletSettings(c).isOk());
}

TEST(ParseTaints, Forms) {
  auto t = parseTaints("a=b:NoSchedule, c:NoExecute");
  ASSERT_TRUE(t.isOk());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[1], (Taint{"c", "", "NoExecute"}));
  EXPECT_FALSE(parseTaints("a=b").isOk());
  EXPECT_FALSE(parseNodeLabels("novalue").isOk());
  EXPECT_FALSE(parseNodeLabels("k=bad value").isOk());
}

}  // namespace
}  // namespace berth::nodegroups::bootstrap
