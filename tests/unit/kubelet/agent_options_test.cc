// `berth agent` flags: registries (--insecure-registry, --registry-mirror) and their errors.
#include "kubelet-lite/agent_options.h"

#include <gtest/gtest.h>

namespace berth::kubelet {
namespace {

Result<AgentOptions> parse(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--kubeconfig", "k", "--runtime", "runc"};
  args.insert(args.end(), extra.begin(), extra.end());
  bool help = false;
  return parseAgentOptions(args, &help);
}

TEST(AgentOptions, InsecureRegistriesAndMirrorsRepeat) {
  auto o = parse({"--insecure-registry", "10.0.0.2:5000", "--insecure-registry=registry.lan:443",
                  "--registry-mirror", "localhost:5000=10.0.0.2:5000",
                  "--registry-mirror=docker.io=mirror.lan:5000"});
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(o->insecure_registries, (std::vector<std::string>{"10.0.0.2:5000", "registry.lan:443"}));
  EXPECT_EQ(o->registry_mirrors, (std::map<std::string, std::string>{
                                     {"localhost:5000", "10.0.0.2:5000"}, {"docker.io", "mirror.lan:5000"}}));
  auto none = parse({});
  ASSERT_TRUE(none.isOk());
  EXPECT_TRUE(none->insecure_registries.empty());
  EXPECT_TRUE(none->registry_mirrors.empty());
}

TEST(AgentOptions, BadRegistryFlagsAreNamed) {
  auto err = [](std::vector<std::string> flags) {
    auto o = parse(std::move(flags));
    EXPECT_FALSE(o.isOk());
    return o.status().message();
  };
  EXPECT_NE(err({"--insecure-registry", "http://10.0.0.2:5000"}).find("--insecure-registry: expected HOST:PORT"),
            std::string::npos);
  EXPECT_NE(err({"--insecure-registry", "10.0.0.2:99999"}).find("bad port"), std::string::npos);
  EXPECT_NE(err({"--insecure-registry", "10.0.0.2:5000/path"}).find("--insecure-registry"), std::string::npos);
  EXPECT_NE(err({"--insecure-registry"}).find("needs a value"), std::string::npos);
  EXPECT_NE(err({"--registry-mirror", "localhost:5000"}).find("expected FROM=TO"), std::string::npos);
  EXPECT_NE(err({"--registry-mirror", "=10.0.0.2:5000"}).find("--registry-mirror FROM"), std::string::npos);
  EXPECT_NE(err({"--registry-mirror", "a:1=https://b:2"}).find("--registry-mirror TO"), std::string::npos);
  EXPECT_NE(err({"--registry-mirror", "a:1=a:1"}).find("mirrors itself"), std::string::npos);
  EXPECT_NE(err({"--registry-mirror", "a:1=b:1", "--registry-mirror", "a:1=c:1"}).find("two mirrors"),
            std::string::npos);
}

TEST(AgentOptions, UsageNamesTheRegistryFlags) {
  std::string usage = kAgentUsage;
  EXPECT_NE(usage.find("--insecure-registry"), std::string::npos);
  EXPECT_NE(usage.find("--registry-mirror FROM=TO"), std::string::npos);
}

}  // namespace
}  // namespace berth::kubelet
