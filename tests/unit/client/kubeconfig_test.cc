#include "client/kubeconfig.h"

#include <gtest/gtest.h>

#include "client/rest_client.h"
#include "common/strings.h"

namespace berth::client {
namespace {

TEST(KubeConfig, CurrentContextWithInlineData) {
  std::string y = R"(apiVersion: v1
kind: Config
current-context: b
clusters:
- name: ca
  cluster: {server: "https://a:1/"}
- name: cb
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )" + base64Encode("CA") + R"(
contexts:
- name: a
  context: {cluster: ca, user: ua}
- name: b
  context: {cluster: cb, user: ub}
users:
- name: ub
  user:
    client-certificate-data: )" + base64Encode("CERT") + R"(
    client-key-data: )" + base64Encode("KEY") + R"(
- name: ua
  user: {token: abc}
)";
  auto kc = parseKubeConfig(y);
  ASSERT_TRUE(kc.isOk()) << kc.status().toString();
  EXPECT_EQ(kc->server, "https://127.0.0.1:6443");
  EXPECT_EQ(kc->ca_pem, "CA");
  EXPECT_EQ(kc->cert_pem, "CERT");
  EXPECT_EQ(kc->key_pem, "KEY");
  auto a = parseKubeConfig(y, "", "a");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a->server, "https://a:1");
  EXPECT_EQ(a->token, "abc");
}

TEST(KubeConfig, Errors) {
  EXPECT_EQ(parseKubeConfig("[").status().code(), Code::kBadRequest);
  EXPECT_EQ(parseKubeConfig("current-context: x\ncontexts: []\n").status().code(), Code::kBadRequest);
  EXPECT_FALSE(loadKubeConfig("/nonexistent/kubeconfig").isOk());
}

TEST(StatusFromResponse, MapsReasonCodeAndCauses) {
  auto s = statusFromResponse(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure",
    "message":"bad","reason":"Invalid","code":422,
    "details":{"causes":[{"reason":"FieldValueInvalid","message":"m","field":"spec.x"}]}})");
  EXPECT_EQ(s.code(), Code::kInvalid);
  EXPECT_EQ(s.message(), "bad");
  ASSERT_EQ(s.causes().size(), 1u);
  EXPECT_EQ(s.causes()[0].field, "spec.x");
  EXPECT_EQ(statusFromResponse(404, R"({"kind":"Status","reason":"NotFound","code":404})").code(),
            Code::kNotFound);
  EXPECT_EQ(statusFromResponse(410, "gone").code(), Code::kExpired);
  EXPECT_EQ(statusFromResponse(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})").code(),
            Code::kAlreadyExists);
}

TEST(Resource, Paths) {
  Resource rs{"apps", "v1", "replicasets", "ReplicaSet", true, {}};
  EXPECT_EQ(rs.path("ns", "a"), "/apis/apps/v1/namespaces/ns/replicasets/a");
  EXPECT_EQ(rs.path(), "/apis/apps/v1/replicasets");
  Resource ns{"", "v1", "namespaces", "Namespace", false, {}};
  EXPECT_EQ(ns.path("", "x", "finalize"), "/api/v1/namespaces/x/finalize");
  EXPECT_EQ(rs.id(), "apps/v1/replicasets");
}

}  // namespace
}  // namespace berth::client
