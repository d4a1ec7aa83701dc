#include "kubelet-lite/images/registry_client.h"

#include <gtest/gtest.h>

#include "common/strings.h"

namespace berth::images {
namespace {

TEST(RegistryClient, LoopbackAndNamedInsecureRegistriesArePlainHttp) {
  RegistryClient c(RegistryClient::Options{{"registry.lan:5000"}});
  EXPECT_EQ(c.baseUrl("127.0.0.1:5000"), "http://127.0.0.1:5000");
  EXPECT_EQ(c.baseUrl("127.9.9.9"), "http://127.9.9.9");
  EXPECT_EQ(c.baseUrl("localhost:5000"), "http://localhost:5000");
  EXPECT_EQ(c.baseUrl("[::1]:5000"), "http://[::1]:5000");
  EXPECT_EQ(c.baseUrl("registry.lan:5000"), "http://registry.lan:5000");
  EXPECT_EQ(c.baseUrl("registry.lan:5001"), "https://registry.lan:5001");
  EXPECT_EQ(c.baseUrl("128.0.0.1:5000"), "https://128.0.0.1:5000");
  EXPECT_EQ(c.baseUrl("docker.io"), "https://registry-1.docker.io");
}

TEST(RegistryClient, MirrorsReplaceTheEndpoint) {
  RegistryClient::Options o;
  o.insecure_registries = {"10.0.0.2:5000"};
  o.mirrors = {{"localhost:5000", "10.0.0.2:5000"}, {"docker.io", "mirror.example"},
               {"quay.io", "127.0.0.1:6000"}};
  RegistryClient c(o);
  EXPECT_EQ(c.baseUrl("localhost:5000"), "http://10.0.0.2:5000") << "an insecure mirror is plain HTTP";
  EXPECT_EQ(c.baseUrl("docker.io"), "https://mirror.example");
  EXPECT_EQ(c.baseUrl("quay.io"), "http://127.0.0.1:6000");
  EXPECT_EQ(c.baseUrl("localhost:5001"), "http://localhost:5001");
}

TEST(RegistryClient, ParsesBearerChallenge) {
  std::map<std::string, std::string> p;
  std::string scheme = parseChallenge(
      R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push")", &p);
  EXPECT_EQ(scheme, "bearer");
  EXPECT_EQ(p["realm"], "https://auth.example/token");
  EXPECT_EQ(p["service"], "registry.example");
  EXPECT_EQ(p["scope"], "repository:a/b:pull,push");
  std::map<std::string, std::string> b;
  EXPECT_EQ(parseChallenge(R"(Basic realm="Registry Realm")", &b), "basic");
  EXPECT_EQ(b["realm"], "Registry Realm");
}

TEST(Keyring, ReadsDockerConfigJsonAndLegacyDockercfg) {
  std::string cfg = R"({"auths":{"https://index.docker.io/v1/":{"auth":")" +
                    base64Encode("alice:s3cret") +
                    R"("},"registry.lan:5000":{"username":"bob","password":"pw"}}})";
  std::string legacy = R"({"quay.io":{"auth":")" + base64Encode("carol:x:y") + R"("}})";
  auto k = Keyring::parse({cfg, legacy});
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  auto hub = k->lookup("docker.io");
  ASSERT_TRUE(hub);
  EXPECT_EQ(hub->username, "alice");
  EXPECT_EQ(hub->password, "s3cret");
  EXPECT_EQ(k->lookup("registry.lan:5000")->username, "bob");
  EXPECT_EQ(k->lookup("quay.io")->password, "x:y");
  EXPECT_FALSE(k->lookup("other.io"));
}

TEST(Keyring, MalformedSecretsAreClearErrors) {
  auto notJson = Keyring::parse({"{nope"});
  ASSERT_FALSE(notJson.isOk());
  EXPECT_NE(notJson.status().message().find("docker config JSON"), std::string::npos);
  auto badAuth = Keyring::parse({R"({"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}})"});  // "nocolon"
  ASSERT_FALSE(badAuth.isOk());
  EXPECT_NE(badAuth.status().message().find("user:password"), std::string::npos);
}

}  // namespace
}  // namespace berth::images
