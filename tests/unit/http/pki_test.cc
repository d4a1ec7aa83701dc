#include "apiserver/http/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

#include "common/strings.h"

namespace berth::http {
namespace {

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-pki-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string read(const std::string& path) {
    auto r = readFile(path);
    EXPECT_TRUE(r.isOk()) << path;
    return r.isOk() ? *r : "";
  }
  std::vector<std::string> sans(const std::string& cert_path) {
    auto r = certificateSans(read(cert_path));
    EXPECT_TRUE(r.isOk());
    return r.isOk() ? *r : std::vector<std::string>{};
  }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }

  std::string dir_;
};

TEST_F(PkiTest, CreatesCaServingAndAdminWithPrivateKeys) {
  auto pki = ensurePki(dir_ + "/pki", {"api.example.com", "10.0.0.7", "[fd00::1]"});
  ASSERT_TRUE(pki.isOk()) << pki.status().toString();
  for (const auto& key : {pki->ca_key, pki->serving_key, pki->admin_key}) {
    struct stat st;
    ASSERT_EQ(stat(key.c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
    EXPECT_NE(read(key).find("PRIVATE KEY"), std::string::npos);
  }
  auto s = sans(pki->serving_cert);
  EXPECT_TRUE(has(s, "DNS:localhost"));
  EXPECT_TRUE(has(s, "IP:127.0.0.1"));
  EXPECT_TRUE(has(s, "DNS:api.example.com"));
  EXPECT_TRUE(has(s, "IP:10.0.0.7"));
  EXPECT_TRUE(has(s, "IP:fd00::1"));
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  EXPECT_TRUE(has(s, "DNS:" + toLower(host))) << host;
}

TEST_F(PkiTest, ReusesFilesAndReissuesServingCertForNewSans) {
  auto first = ensurePki(dir_, {"a.example"});
  ASSERT_TRUE(first.isOk());
  std::string ca = read(first->ca_cert), serving = read(first->serving_cert);
  std::string admin = read(first->admin_cert);

  auto again = ensurePki(dir_, {"a.example"});
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(read(again->ca_cert), ca);
  EXPECT_EQ(read(again->serving_cert), serving);
  EXPECT_EQ(read(again->admin_cert), admin);

  auto more = ensurePki(dir_, {"a.example", "192.168.1.5"});
  ASSERT_TRUE(more.isOk());
  EXPECT_EQ(read(more->ca_cert), ca);
  EXPECT_NE(read(more->serving_cert), serving);
  EXPECT_TRUE(has(sans(more->serving_cert), "IP:192.168.1.5"));
  EXPECT_EQ(read(more->admin_cert), admin);

  // A subset of what is covered needs no new certificate.
  std::string covering = read(more->serving_cert);
  ASSERT_TRUE(ensurePki(dir_, {"192.168.1.5"}).isOk());
  EXPECT_EQ(read(more->serving_cert), covering);
}

TEST_F(PkiTest, ReissuesServingCertThatTheCaDidNotSign) {
  auto a = ensurePki(dir_ + "/a", {});
  auto b = ensurePki(dir_ + "/b", {});
  ASSERT_TRUE(a.isOk() && b.isOk());
  std::string foreign = read(b->serving_cert);
  ASSERT_TRUE(writeFileAtomic(a->serving_cert, foreign).isOk());
  ASSERT_TRUE(writeFileAtomic(a->serving_key, read(b->serving_key), 0600).isOk());
  ASSERT_TRUE(ensurePki(dir_ + "/a", {}).isOk());
  EXPECT_NE(read(a->serving_cert), foreign);
}

TEST_F(PkiTest, CorruptCaIsAnErrorNotSilentlyReplaced) {
  auto a = ensurePki(dir_, {});
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(writeFileAtomic(a->ca_cert, "not a certificate").isOk());
  EXPECT_FALSE(ensurePki(dir_, {}).isOk());
}

TEST_F(PkiTest, IssuesClientCertificates) {
  auto pki = ensurePki(dir_, {});
  ASSERT_TRUE(pki.isOk());
  auto cert = issueClientCert(*pki, "system:node:n1", {"system:nodes"});
  ASSERT_TRUE(cert.isOk()) << cert.status().toString();
  EXPECT_NE(cert->first.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(cert->second.find("PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(issueClientCert(*pki, "", {}).isOk());
}

TEST_F(PkiTest, RendersKubeconfig) {
  auto kc = renderKubeconfig("https://127.0.0.1:6443", "CA-PEM\n", "CERT-PEM\n", "KEY-PEM\n",
                             "demo", "admin");
  ASSERT_TRUE(kc.isOk()) << kc.status().toString();
  YAML::Node n = YAML::Load(*kc);
  EXPECT_EQ(n["apiVersion"].as<std::string>(), "v1");
  EXPECT_EQ(n["kind"].as<std::string>(), "Config");
  EXPECT_EQ(n["current-context"].as<std::string>(), "admin@demo");
  auto cluster = n["clusters"][0];
  EXPECT_EQ(cluster["name"].as<std::string>(), "demo");
  EXPECT_EQ(cluster["cluster"]["server"].as<std::string>(), "https://127.0.0.1:6443");
  std::string decoded;
  ASSERT_TRUE(base64Decode(cluster["cluster"]["certificate-authority-data"].as<std::string>(),
                           &decoded));
  EXPECT_EQ(decoded, "CA-PEM\n");
  auto user = n["users"][0];
  EXPECT_EQ(user["name"].as<std::string>(), "admin");
  ASSERT_TRUE(base64Decode(user["user"]["client-certificate-data"].as<std::string>(), &decoded));
  EXPECT_EQ(decoded, "CERT-PEM\n");
  ASSERT_TRUE(base64Decode(user["user"]["client-key-data"].as<std::string>(), &decoded));
  EXPECT_EQ(decoded, "KEY-PEM\n");
  auto ctx = n["contexts"][0];
  EXPECT_EQ(ctx["name"].as<std::string>(), "admin@demo");
  EXPECT_EQ(ctx["context"]["cluster"].as<std::string>(), "demo");
  EXPECT_EQ(ctx["context"]["user"].as<std::string>(), "admin");
}

}  // namespace
}  // namespace berth::http
