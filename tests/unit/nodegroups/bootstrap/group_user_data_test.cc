// A node group's own user-data (NodeGroup spec.userData) and preBootstrapCommands in the
// rendered MIME multipart: the group's parts first, then one shell part per command, then
// Berth's NodeConfig; the agent's parse runs the scripts in that order and merges the group's
// NodeConfig under Berth's. Golden files in ../testdata (BERTH_UPDATE_GOLDEN=1 rewrites them).
#include <gtest/gtest.h>

#include "nodegroups/bootstrap/nodegroup_user_data.h"
#include "nodegroups/bootstrap/user_data.h"
#include "tests/unit/nodegroups/bootstrap/golden.h"

namespace berth::nodegroups::bootstrap {
namespace {

// A NodeGroup object as the API server stores it, with both kinds of user-data.
json group(const std::string& user_data) {
  json spec = {{"capacityType", "ON_DEMAND"},
               {"labels", {{"team", "a"}}},
               {"preBootstrapCommands", {"echo pre > /tmp/pre", "#!/bin/bash\necho two\n"}}};
  if (!user_data.empty()) spec["userData"] = user_data;
  return {{"metadata", {{"name", "ng-1"}}}, {"spec", spec}};
}

Result<std::string> render(const json& ng) {
  BERTH_ASSIGN_OR_RETURN(UserDataParams p, nodeGroupUserDataParams(ng, ""));
  p.cluster_name = "demo";
  p.api_server_endpoint = "https://10.0.0.1:6443";
  p.ca_pem = kTestCa;
  p.service_cidr = "10.100.0.0/16";
  p.bootstrap_token = "abcdef.0123456789abcdef";
  return renderUserData(p);
}

TEST(GroupUserData, OwnPartsThenPreBootstrapCommandsThenNodeConfig) {
  auto ud = render(group(readTestdata("group_own_parts.mime")));
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  expectGolden("group_own_parts.golden", *ud);

  // What the agent reads back: scripts in order, the group's kubelet config merged under ours.
  auto parsed = parseUserData(*ud);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  ASSERT_EQ(parsed->scripts.size(), 3u);
  EXPECT_NE(parsed->scripts[0].script.find("own part"), std::string::npos);
  EXPECT_NE(parsed->scripts[1].script.find("echo pre > /tmp/pre"), std::string::npos);
  EXPECT_EQ(parsed->scripts[2].script, "#!/bin/bash\necho two");
  EXPECT_EQ(parsed->config.kubelet_config.value("shutdownGracePeriod", ""), "30s");
  EXPECT_EQ(parsed->config.cluster_name, "demo");
  EXPECT_EQ(parsed->config.bootstrapToken(), "abcdef.0123456789abcdef");
  auto ks = kubeletSettings(parsed->config);
  ASSERT_TRUE(ks.isOk());
  EXPECT_EQ(ks->labels.at("eks.amazonaws.com/nodegroup"), "ng-1");
  EXPECT_EQ(ks->labels.at("team"), "a");
}

TEST(GroupUserData, ShellScriptIsOnePartBeforeTheCommands) {
  auto ud = render(group("#!/bin/sh\nsysctl -w vm.max_map_count=262144\n"));
  ASSERT_TRUE(ud.isOk()) << ud.status().toString();
  expectGolden("group_own_script.golden", *ud);
  auto parsed = parseUserData(*ud);
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  ASSERT_EQ(parsed->scripts.size(), 3u);
  EXPECT_EQ(parsed->scripts[0].script, "#!/bin/sh\nsysctl -w vm.max_map_count=262144");
}

TEST(GroupUserData, BadUserDataIsRefusedNamingThePart) {
  struct Case {
    std::string text;
    std::string want;
  };
  std::vector<Case> cases = {
      {"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
       "Content-Type: text/cloud-config\n\n#cloud-config\n--b--\n",
       "part 1 (text/cloud-config): only text/x-shellscript and application/node.eks.aws"},
      {"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n"
       "Content-Type: application/node.eks.aws\n\napiVersion: node.eks.aws/v1alpha1\nkind: Node\n--b--\n",
       "kind: must be NodeConfig"},
      {"MIME-Version: 1.0\nContent-Type: text/plain\n\nhello\n", "must be multipart/mixed"},
      {"apiVersion: v1\nkind: ConfigMap\n", "apiVersion: must be node.eks.aws/v1alpha1"},
      {"#!/bin/sh\n" + std::string(17000, '#') + "\n", "at most 16384"},
      {"#!/bin/sh\necho --==BERTHBOUNDARY==\n", ""},  // only the delimiter at a line start counts
  };
  for (const Case& c : cases) {
    auto parts = parseUserDataTemplate(c.text);
    if (c.want.empty()) {
      EXPECT_TRUE(parts.isOk()) << parts.status().toString();
      continue;
    }
    ASSERT_FALSE(parts.isOk()) << c.text.substr(0, 80);
    EXPECT_NE(parts.status().message().find(c.want), std::string::npos) << parts.status().message();
  }
  // At render time the error says whose user-data it is.
  auto ud = render(group("MIME-Version: 1.0\nContent-Type: text/plain\n\nx\n"));
  ASSERT_FALSE(ud.isOk());
  EXPECT_NE(ud.status().message().find("the node group's user-data"), std::string::npos) << ud.status().message();
}

}  // namespace
}  // namespace berth::nodegroups::bootstrap
