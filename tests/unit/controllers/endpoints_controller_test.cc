#include "controllers/endpoints_controller.h"

#include <gtest/gtest.h>

#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

json svcObj(const std::string& name, json selector = {{"app", "web"}}) {
  json s = {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                          {"labels", {{"team", "a"}}}}},
            {"spec",
             {{"ports",
               {{{"name", "http"}, {"port", 80}, {"targetPort", "web"}, {"protocol", "TCP"}},
                {{"name", "metrics"}, {"port", 9090}, {"targetPort", 9100}, {"protocol", "TCP"}}}}}}};
  if (!selector.is_null()) s["spec"]["selector"] = selector;
  return s;
}

json podObj(const std::string& name, const std::string& ip, bool ready, int web_port = 8080) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                          {"labels", {{"app", "web"}}}}},
            {"spec",
             {{"nodeName", "n1"},
              {"containers",
               {{{"name", "c"}, {"ports", {{{"name", "web"}, {"containerPort", web_port}}}}}}}}},
            {"status",
             {{"phase", "Running"},
              {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
  if (!ip.empty()) p["status"]["podIP"] = ip;
  return p;
}

class EndpointsTest : public WorkloadFixture<EndpointsController> {
 protected:
  void startController() {
    start([](client::Client* c, client::InformerFactory* f) {
      return std::make_unique<EndpointsController>(c, f, EndpointsController::Config{});
    });
  }
};

TEST_F(EndpointsTest, ListsReadyAndNotReadyPodsWithResolvedPorts) {
  fake_.put(res::services(), svcObj("web"));
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  fake_.put(podsResource(), podObj("b", "10.0.0.2", false));
  fake_.put(podsResource(), podObj("no-ip", "", true));
  json done = podObj("done", "10.0.0.3", false);
  done["status"]["phase"] = "Succeeded";
  fake_.put(podsResource(), done);
  json leaving = podObj("leaving", "10.0.0.4", true);
  leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  fake_.put(podsResource(), leaving);
  json other = podObj("other", "10.0.0.5", true);
  other["metadata"]["labels"]["app"] = "db";
  fake_.put(podsResource(), other);
  startController();
  auto r = ctl_->reconcile("ns/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 1u);
  const json& ep = creates[0].body;
  EXPECT_EQ(creates[0].resource, "v1/endpoints");
  EXPECT_EQ(ep["metadata"]["name"], "web");
  EXPECT_EQ(ep["metadata"]["labels"]["team"], "a");
  ASSERT_EQ(ep["subsets"].size(), 1u);
  const json& ss = ep["subsets"][0];
  ASSERT_EQ(ss["addresses"].size(), 1u);
  EXPECT_EQ(ss["addresses"][0]["ip"], "10.0.0.1");
  EXPECT_EQ(ss["addresses"][0]["nodeName"], "n1");
  EXPECT_EQ(ss["addresses"][0]["targetRef"],
            json({{"kind", "Pod"}, {"namespace", "ns"}, {"name", "a"}, {"uid", "a-uid"}}));
  ASSERT_EQ(ss["notReadyAddresses"].size(), 1u);
  EXPECT_EQ(ss["notReadyAddresses"][0]["ip"], "10.0.0.2");
  EXPECT_EQ(ss["ports"], json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"},
                                          {"name":"metrics","port":9100,"protocol":"TCP"}])"));
}

TEST_F(EndpointsTest, PodsResolvingDifferentPortsGetTheirOwnSubsets) {
  fake_.put(res::services(), svcObj("web"));
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true, 8080));
  fake_.put(podsResource(), podObj("b", "10.0.0.2", true, 8081));
  json unnamed = podObj("c", "10.0.0.3", true);
  unnamed["spec"]["containers"][0]["ports"] = json::array();
  fake_.put(podsResource(), unnamed);
  startController();
  json subsets = ctl_->desiredSubsets(svcObj("web"));
  ASSERT_EQ(subsets.size(), 3u);
  std::set<int> web_ports;
  for (const auto& s : subsets) {
    ASSERT_EQ(s["addresses"].size(), 1u);
    // A pod without the named port only gets the numeric one.
    if (s["addresses"][0]["ip"] == "10.0.0.3") EXPECT_EQ(s["ports"].size(), 1u);
    else web_ports.insert(s["ports"][0]["port"].get<int>());
  }
  EXPECT_EQ(web_ports, (std::set<int>{8080, 8081}));
}

TEST_F(EndpointsTest, PublishNotReadyAddressesListsEveryPodAsReady) {
  json svc = svcObj("web");
  svc["spec"]["publishNotReadyAddresses"] = true;
  fake_.put(res::services(), svc);
  fake_.put(podsResource(), podObj("b", "10.0.0.2", false));
  json leaving = podObj("leaving", "10.0.0.4", true);
  leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  fake_.put(podsResource(), leaving);
  startController();
  json subsets = ctl_->desiredSubsets(svc);
  ASSERT_EQ(subsets.size(), 1u);
  EXPECT_EQ(subsets[0]["addresses"].size(), 2u);
  EXPECT_FALSE(subsets[0].contains("notReadyAddresses"));
}

TEST_F(EndpointsTest, WritesNothingWhenUnchangedAndUpdatesWhenChanged) {
  json svc = svcObj("web");
  fake_.put(res::services(), svc);
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  startController();
  json subsets = ctl_->desiredSubsets(svc);
  ctl_.reset();
  factory_.reset();
  json ep = {{"apiVersion", "v1"}, {"kind", "Endpoints"},
             {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"labels", {{"team", "a"}}},
                           {"resourceVersion", "5"}}},
             {"subsets", subsets}};
  fake_.put(res::endpoints(), ep);
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(writes().empty());

  // The pod turns unready: one update moving it to notReadyAddresses.
  ctl_.reset();
  factory_.reset();
  fake_.put(podsResource(), podObj("a", "10.0.0.1", false));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto ups = actions("update");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(ups[0].body["metadata"]["resourceVersion"], "5");
  EXPECT_FALSE(ups[0].body["subsets"][0].contains("addresses"));
  EXPECT_EQ(ups[0].body["subsets"][0]["notReadyAddresses"][0]["ip"], "10.0.0.1");
}

TEST_F(EndpointsTest, ServiceWithoutSelectorIsLeftAlone) {
  fake_.put(res::services(), svcObj("manual", nullptr));
  fake_.put(res::endpoints(), {{"apiVersion", "v1"}, {"kind", "Endpoints"},
                               {"metadata", {{"name", "manual"}, {"namespace", "ns"}}},
                               {"subsets", {{{"addresses", {{{"ip", "192.0.2.1"}}}}}}}});
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/manual").error.isOk());
  EXPECT_TRUE(writes().empty());
}

TEST_F(EndpointsTest, DeletedServiceLosesItsEndpoints) {
  fake_.put(res::endpoints(), {{"apiVersion", "v1"}, {"kind", "Endpoints"},
                               {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"uid", "e1"}}}});
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].key, "ns/web");
  EXPECT_EQ(dels[0].body["preconditions"]["uid"], "e1");
}

}  // namespace
}  // namespace berth::controllers
