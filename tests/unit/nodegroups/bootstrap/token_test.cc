#include "nodegroups/bootstrap/token.h"

#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "common/strings.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::nodegroups::bootstrap {
namespace {

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t; }
  TimePoint t = std::chrono::system_clock::from_time_t(1800000000);
};

std::string data(const json& secret, const std::string& key) {
  std::string out;
  EXPECT_TRUE(base64Decode(secret["data"].value(key, ""), &out)) << key;
  return out;
}

TEST(BootstrapToken, GeneratedTokensHaveTheShapeAndDiffer) {
  std::regex shape("[a-z0-9]{6}\\.[a-z0-9]{16}");
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto t = generateBootstrapToken();
    ASSERT_TRUE(t.isOk());
    EXPECT_TRUE(std::regex_match(t->str(), shape)) << t->str();
    EXPECT_TRUE(looksLikeBootstrapToken(t->str()));
    seen.insert(t->str());
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(BootstrapToken, ParseNamesWhatIsWrong) {
  auto t = parseBootstrapToken("abcdef.0123456789abcdef");
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(t->id, "abcdef");
  EXPECT_EQ(t->secret, "0123456789abcdef");
  EXPECT_NE(parseBootstrapToken("garbage").status().message().find("<id>.<secret>"), std::string::npos);
  EXPECT_NE(parseBootstrapToken("ABCDEF.0123456789abcdef").status().message().find("id must be"),
            std::string::npos);
  EXPECT_NE(parseBootstrapToken("abcdef.short").status().message().find("secret must be"),
            std::string::npos);
  EXPECT_FALSE(looksLikeBootstrapToken("abcdef.0123456789abcdeF"));
}

TEST(BootstrapTokenSecret, HasKubeadmsShape) {
  FakeClock clock;
  TokenOptions opts;
  opts.description = "for ng-1";
  opts.extra_groups = {"system:bootstrappers:nodegroup:ng-1"};
  auto s = bootstrapTokenSecret({"abcdef", "0123456789abcdef"}, opts, clock.now());
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ((*s)["metadata"]["name"], "bootstrap-token-abcdef");
  EXPECT_EQ((*s)["metadata"]["namespace"], "kube-system");
  EXPECT_EQ((*s)["type"], "bootstrap.kubernetes.io/token");
  EXPECT_EQ(data(*s, "token-id"), "abcdef");
  EXPECT_EQ(data(*s, "token-secret"), "0123456789abcdef");
  EXPECT_EQ(data(*s, "expiration"), formatRfc3339(clock.now() + std::chrono::hours(24)));
  EXPECT_EQ(data(*s, "usage-bootstrap-authentication"), "true");
  EXPECT_EQ(data(*s, "usage-bootstrap-signing"), "true");
  EXPECT_EQ(data(*s, "auth-extra-groups"), "system:bootstrappers:nodegroup:ng-1");
  EXPECT_EQ(data(*s, "description"), "for ng-1");
  opts.extra_groups = {"system:masters"};
  auto bad = bootstrapTokenSecret({"abcdef", "0123456789abcdef"}, opts, clock.now());
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("system:masters"), std::string::npos);
}

TEST(AuthenticateBootstrapToken, DecisionsWithAFakeClock) {
  FakeClock clock;
  BootstrapToken tok{"abcdef", "0123456789abcdef"};
  TokenOptions opts;
  opts.ttl = std::chrono::hours(1);
  opts.extra_groups = {"system:bootstrappers:nodegroup:ng-1"};
  json secret = *bootstrapTokenSecret(tok, opts, clock.now());

  auto who = authenticateBootstrapToken(tok, &secret, clock.now());
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ(who->user, "system:bootstrap:abcdef");
  EXPECT_EQ(who->groups, (std::vector<std::string>{"system:bootstrappers",
                                                   "system:bootstrappers:nodegroup:ng-1"}));

  auto later = clock.now() + std::chrono::minutes(59);
  EXPECT_TRUE(authenticateBootstrapToken(tok, &secret, later).isOk());
  EXPECT_FALSE(bootstrapTokenExpired(secret, later));
  auto expired = clock.now() + std::chrono::hours(1);
  auto r = authenticateBootstrapToken(tok, &secret, expired);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
  EXPECT_EQ(r.status().message(), "bootstrap token abcdef has expired");
  EXPECT_TRUE(bootstrapTokenExpired(secret, expired));

  r = authenticateBootstrapToken(tok, nullptr, clock.now());
  EXPECT_EQ(r.status().message(), "bootstrap token abcdef is unknown");
  r = authenticateBootstrapToken({"abcdef", "0123456789abcdee"}, &secret, clock.now());
  EXPECT_EQ(r.status().message(), "bootstrap token abcdef has a wrong secret");

  opts.usage_authentication = false;
  json signing_only = *bootstrapTokenSecret(tok, opts, clock.now());
  r = authenticateBootstrapToken(tok, &signing_only, clock.now());
  EXPECT_EQ(r.status().message(), "bootstrap token abcdef may not be used for authentication");

  opts.ttl = std::chrono::seconds(0);
  opts.usage_authentication = true;
  json forever = *bootstrapTokenSecret(tok, opts, clock.now());
  EXPECT_FALSE(forever["data"].contains("expiration"));
  EXPECT_TRUE(authenticateBootstrapToken(tok, &forever, clock.now() + std::chrono::hours(1000)).isOk());
}

TEST(CreateBootstrapToken, CreatesTheSecretThroughTheApi) {
  testing::FakeClient client;
  FakeClock clock;
  TokenOptions opts;
  opts.description = "berth nodegroup user-data ng-1";
  auto tok = createBootstrapToken(client, opts, clock);
  ASSERT_TRUE(tok.isOk()) << tok.status().toString();
  auto actions = client.actions();
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].verb, "create");
  EXPECT_EQ(actions[0].resource, "v1/secrets");
  EXPECT_EQ(actions[0].key, "kube-system/bootstrap-token-" + tok->id);
  EXPECT_EQ(data(actions[0].body, "token-secret"), tok->secret);
}

}  // namespace
}  // namespace berth::nodegroups::bootstrap
