#include "nodegroups/bootstrap/csr.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "apiserver/http/pki.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/csr_controller.h"
#include "nodegroups/bootstrap/token.h"
#include "nodegroups/bootstrap/token_cleaner.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::nodegroups::bootstrap {
namespace {

json csrObject(const std::string& csr_pem, const std::string& user, std::vector<std::string> groups,
               std::vector<std::string> usages = {"digital signature", "client auth"},
               const std::string& signer = kKubeletClientSigner) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", "node-csr-1"}, {"uid", "u1"}, {"resourceVersion", "5"}}},
          {"spec",
           {{"request", base64Encode(csr_pem)},
            {"signerName", signer},
            {"usages", usages},
            {"username", user},
            {"groups", groups}}}};
}

KeyAndCsr nodeCsr(const std::string& node) {
  auto kc = makeNodeClientCsr(node);
  EXPECT_TRUE(kc.isOk()) << kc.status().toString();
  return *kc;
}

TEST(NodeClientCsr, HasTheNodeSubjectAndVerifies) {
  auto kc = nodeCsr("node-a");
  auto content = parseCsrPem(kc.csr_pem);
  ASSERT_TRUE(content.isOk()) << content.status().toString();
  EXPECT_EQ(content->common_name, "system:node:node-a");
  EXPECT_EQ(content->organizations, std::vector<std::string>{"system:nodes"});
  EXPECT_FALSE(content->has_sans);
  EXPECT_FALSE(parseCsrPem("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n").isOk());
}

TEST(DecideCsr, ApprovesBootstrappersAndSelfRenewals) {
  std::string pem = nodeCsr("node-a").csr_pem;
  EXPECT_TRUE(decideCsr(csrObject(pem, "system:bootstrap:abcdef", {"system:bootstrappers", "system:authenticated"})).approve);
  EXPECT_TRUE(decideCsr(csrObject(pem, "system:node:node-a", {"system:nodes"})).approve);
}

TEST(DecideCsr, IgnoresEverythingElse) {
  std::string pem = nodeCsr("node-a").csr_pem;
  struct Case {
    const char* what;
    json csr;
    const char* reason;
  } cases[] = {
      {"another node", csrObject(pem, "system:node:node-b", {"system:nodes"}), "neither a bootstrapper"},
      {"a plain user", csrObject(pem, "alice", {"system:authenticated"}), "neither a bootstrapper"},
      {"server auth", csrObject(pem, "system:bootstrap:x", {"system:bootstrappers"}, {"server auth"}), "server auth"},
      {"no client auth", csrObject(pem, "system:bootstrap:x", {"system:bootstrappers"}, {"digital signature"}), "client auth"},
      {"other signer", csrObject(pem, "system:bootstrap:x", {"system:bootstrappers"}, {"client auth"}, "example.com/x"), "not auto-approved"},
      {"garbage request", csrObject("not a csr", "system:bootstrap:x", {"system:bootstrappers"}), "PEM"},
  };
  for (const auto& c : cases) {
    CsrDecision d = decideCsr(c.csr);
    EXPECT_FALSE(d.approve) << c.what;
    EXPECT_NE(d.reason.find(c.reason), std::string::npos) << c.what << ": " << d.reason;
  }
  json approved = csrObject(pem, "system:bootstrap:x", {"system:bootstrappers"});
  approved["status"]["conditions"] = {{{"type", "Denied"}}};
  EXPECT_FALSE(decideCsr(approved).approve);
}

TEST(CertificateDuration, ClampedToTenMinutesAndTheCap) {
  auto kc = makeNodeClientCsr("x");
  ASSERT_TRUE(kc.isOk());
  std::string pem = kc->csr_pem;
  json c = csrObject(pem, "system:bootstrap:x", {"system:bootstrappers"});
  EXPECT_TRUE(decideCsr(c).approve);
  EXPECT_EQ(certificateDuration(c, std::chrono::hours(24)), std::chrono::hours(24));
  c["spec"]["expirationSeconds"] = 60;
  EXPECT_EQ(certificateDuration(c, std::chrono::hours(24)), std::chrono::seconds(600));
  c["spec"]["expirationSeconds"] = 7200;
  EXPECT_EQ(certificateDuration(c, std::chrono::hours(24)), std::chrono::seconds(7200));
  c["spec"]["expirationSeconds"] = 10 * 86400;
  EXPECT_EQ(certificateDuration(c, std::chrono::hours(24)), std::chrono::hours(24));
}

class CsrControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("csr-test-" + randomSuffix(8));
    auto pki = http::ensurePki(dir_.string(), {});
    ASSERT_TRUE(pki.isOk()) << pki.status().toString();
    ca_cert_ = *http::readFile(pki->ca_cert);
    ca_key_ = *http::readFile(pki->ca_key);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string ca_cert_, ca_key_;
  testing::FakeClient client_;
};

TEST_F(CsrControllerTest, ApprovesThenSigns) {
  client::InformerFactory informers(&client_);
  auto kc = nodeCsr("node-a");
  json csr = csrObject(kc.csr_pem, "system:bootstrap:abcdef", {"system:bootstrappers"});
  client_.put(csrResource(), csr);
  CsrController c(&client_, &informers, {}, ca_cert_, ca_key_);
  informers.start();
  ASSERT_TRUE(informers.informers()[0]->waitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(c.reconcile("node-csr-1").error.isOk());
  auto actions = client_.actions();
  ASSERT_FALSE(actions.empty());
  const auto& approve = actions.back();
  EXPECT_EQ(approve.verb, "update/approval");
  const json& cond = approve.body["status"]["conditions"][0];
  EXPECT_EQ(cond["type"], "Approved");
  EXPECT_EQ(cond["reason"], "AutoApproved");
  EXPECT_EQ(cond["status"], "True");

  // Once approved (as the API would store it), the next pass signs.
  client_.put(csrResource(), approve.body);
  informers.stop();
  client::InformerFactory informers2(&client_);
  CsrController c2(&client_, &informers2, {}, ca_cert_, ca_key_);
  informers2.start();
  ASSERT_TRUE(informers2.informers()[0]->waitForSync(std::chrono::seconds(5)));
  client_.clearActions();
  ASSERT_TRUE(c2.reconcile("node-csr-1").error.isOk());
  actions = client_.actions();
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.back().verb, "update/status");
  std::string cert;
  ASSERT_TRUE(base64Decode(actions.back().body["status"].value("certificate", ""), &cert));
  auto subject = certificateSubject(cert);
  ASSERT_TRUE(subject.isOk()) << subject.status().toString();
  EXPECT_EQ(subject->common_name, "system:node:node-a");
  EXPECT_EQ(subject->organizations, std::vector<std::string>{"system:nodes"});
  informers2.stop();
}

TEST_F(CsrControllerTest, FailsAnApprovedCsrThatIsNotANodeClient) {
  client::InformerFactory informers(&client_);
  auto kc = nodeCsr("node-a");
  json csr = csrObject(kc.csr_pem, "alice", {"system:authenticated"}, {"server auth"});
  csr["status"]["conditions"] = {{{"type", "Approved"}, {"status", "True"}}};
  client_.put(csrResource(), csr);
  CsrController c(&client_, &informers, {}, ca_cert_, ca_key_);
  informers.start();
  ASSERT_TRUE(informers.informers()[0]->waitForSync(std::chrono::seconds(5)));
  ASSERT_TRUE(c.reconcile("node-csr-1").error.isOk());
  auto actions = client_.actions();
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions.back().verb, "update/status");
  const json& conds = actions.back().body["status"]["conditions"];
  EXPECT_EQ(conds.back()["type"], "Failed");
  EXPECT_EQ(conds.back()["reason"], "SignerValidationFailure");
  EXPECT_FALSE(actions.back().body["status"].contains("certificate"));
  informers.stop();
}

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t; }
  TimePoint t = std::chrono::system_clock::from_time_t(1800000000);
};

TEST(TokenCleaner, DeletesExpiredTokensAndWaitsForLiveOnes) {
  testing::FakeClient client;
  FakeClock clock;
  TokenOptions opts;
  opts.ttl = std::chrono::hours(1);
  json live = *bootstrapTokenSecret({"aaaaaa", "0123456789abcdef"}, opts, clock.now());
  opts.ttl = std::chrono::seconds(1);
  json dead = *bootstrapTokenSecret({"bbbbbb", "0123456789abcdef"}, opts, clock.now() - std::chrono::hours(1));
  static const client::Resource kSecrets{"", "v1", "secrets", "Secret", true, {}};
  client.put(kSecrets, live);
  client.put(kSecrets, dead);
  client::InformerFactory informers(&client);
  TokenCleaner::Config cfg;
  cfg.clock = &clock;
  TokenCleaner cleaner(&client, &informers, cfg);
  informers.start();
  ASSERT_TRUE(informers.informers()[0]->waitForSync(std::chrono::seconds(5)));
  client.clearActions();
  auto r = cleaner.reconcile("kube-system/bootstrap-token-aaaaaa");
  EXPECT_TRUE(r.error.isOk());
  EXPECT_GE(r.requeue_after, std::chrono::minutes(59));
  EXPECT_TRUE(client.actions().empty());
  r = cleaner.reconcile("kube-system/bootstrap-token-bbbbbb");
  EXPECT_TRUE(r.error.isOk());
  auto actions = client.actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].verb, "delete");
  EXPECT_EQ(actions[0].key, "kube-system/bootstrap-token-bbbbbb");
  informers.stop();
}

}  // namespace
}  // namespace berth::nodegroups::bootstrap
