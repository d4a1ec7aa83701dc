#include "controllers/root_ca_publisher.h"

#include <gtest/gtest.h>

#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

const client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false, {}};
const client::Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true, {}};
constexpr const char* kCa = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

json nsObj(const std::string& name, bool deleting = false) {
  json n = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}},
            {"status", {{"phase", deleting ? "Terminating" : "Active"}}}};
  if (deleting) n["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  return n;
}

json caMap(const std::string& ns, json data, bool annotated = true) {
  json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
             {"metadata", {{"name", "kube-root-ca.crt"}, {"namespace", ns}, {"resourceVersion", "7"}}},
             {"data", std::move(data)}};
  if (annotated) cm["metadata"]["annotations"] = {{"kubernetes.io/description", RootCaPublisher::kDescription}};
  return cm;
}

class RootCaTest : public WorkloadFixture<RootCaPublisher> {
 protected:
  void startController() {
    start([](client::Client* c, client::InformerFactory* f) {
      RootCaPublisher::Config cfg;
      cfg.root_ca_pem = kCa;
      return std::make_unique<RootCaPublisher>(c, f, cfg);
    });
  }
};

TEST_F(RootCaTest, CreatesTheConfigMapInAnActiveNamespace) {
  fake_.put(kNamespaces, nsObj("team"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("team").error.isOk());
  auto creates = actions("create", "v1/configmaps");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].key, "team/kube-root-ca.crt");
  EXPECT_EQ(creates[0].body["data"], json({{"ca.crt", kCa}}));
  EXPECT_EQ(creates[0].body["metadata"]["annotations"]["kubernetes.io/description"],
            RootCaPublisher::kDescription);
}

TEST_F(RootCaTest, LeavesTerminatingAndMissingNamespacesAlone) {
  fake_.put(kNamespaces, nsObj("going", true));
  startController();
  EXPECT_TRUE(ctl_->reconcile("going").error.isOk());
  EXPECT_TRUE(ctl_->reconcile("absent").error.isOk());
  EXPECT_TRUE(writes().empty());
}

TEST_F(RootCaTest, CorrectConfigMapIsLeftAlone) {
  fake_.put(kNamespaces, nsObj("team"));
  fake_.put(kConfigMaps, caMap("team", {{"ca.crt", kCa}}));
  startController();
  EXPECT_TRUE(ctl_->reconcile("team").error.isOk());
  EXPECT_TRUE(writes().empty());
}

TEST_F(RootCaTest, EditedDataAndLostAnnotationAreRestored) {
  fake_.put(kNamespaces, nsObj("team"));
  fake_.put(kConfigMaps, caMap("team", {{"ca.crt", "forged"}, {"extra", "x"}}, false));
  startController();
  ASSERT_TRUE(ctl_->reconcile("team").error.isOk());
  auto updates = actions("update", "v1/configmaps");
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(updates[0].body["data"], json({{"ca.crt", kCa}}));  // extra keys go too, as upstream
  EXPECT_EQ(updates[0].body["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(updates[0].body["metadata"]["annotations"]["kubernetes.io/description"],
            RootCaPublisher::kDescription);
}

}  // namespace
}  // namespace berth::controllers
