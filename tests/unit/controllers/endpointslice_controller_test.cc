#include "controllers/endpointslice_controller.h"

#include <gtest/gtest.h>

#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

json svcObj(json selector = {{"app", "web"}}) {
  json s = {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"uid", "svc-uid"},
                          {"labels", {{"team", "a"}}}}},
            {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", "web"},
                                  {"protocol", "TCP"}}}}}}};
  if (!selector.is_null()) s["spec"]["selector"] = selector;
  return s;
}

json podObj(const std::string& name, const std::string& ip, bool ready) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                        {"labels", {{"app", "web"}}}}},
          {"spec", {{"nodeName", "n1"},
                    {"containers", {{{"name", "c"}, {"ports", {{{"name", "web"}, {"containerPort", 8080}}}}}}}}},
          {"status", {{"phase", "Running"}, {"podIP", ip},
                      {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

json endpointFor(const std::string& name, const std::string& ip, bool ready) {
  return {{"addresses", {ip}},
          {"conditions", {{"ready", ready}, {"serving", ready}, {"terminating", false}}},
          {"targetRef", {{"kind", "Pod"}, {"namespace", "ns"}, {"name", name}, {"uid", name + "-uid"}}},
          {"nodeName", "n1"},
          {"zone", "local-1a"}};
}

json sliceObj(const std::string& name, json endpoints) {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"resourceVersion", "4"},
            {"labels", {{"team", "a"}, {std::string(kServiceNameLabel), "web"},
                        {std::string(kSliceManagedByLabel), std::string(kSliceControllerName)}}},
            {"ownerReferences", {{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", "web"},
                                  {"uid", "svc-uid"}, {"controller", true}, {"blockOwnerDeletion", true}}}}}},
          {"addressType", "IPv4"},
          {"endpoints", endpoints},
          {"ports", {{{"name", "http"}, {"port", 8080}, {"protocol", "TCP"}}}}};
}

class EndpointSliceTest : public WorkloadFixture<EndpointSliceController> {
 protected:
  void startController(int max_per_slice = 100) {
    fake_.put(res::nodes(), {{"apiVersion", "v1"}, {"kind", "Node"},
                             {"metadata", {{"name", "n1"}, {"labels", {{"topology.kubernetes.io/zone", "local-1a"}}}}}});
    start([&](client::Client* c, client::InformerFactory* f) {
      EndpointSliceController::Config cfg;
      cfg.max_endpoints_per_slice = max_per_slice;
      cfg.clock = &clock_;
      return std::make_unique<EndpointSliceController>(c, f, cfg);
    });
  }
};

TEST_F(EndpointSliceTest, CreatesALabelledOwnedSliceWithConditionsAndZone) {
  fake_.put(res::services(), svcObj());
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  fake_.put(podsResource(), podObj("b", "10.0.0.2", false));
  json leaving = podObj("c", "10.0.0.3", true);
  leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  fake_.put(podsResource(), leaving);
  fake_.put(podsResource(), podObj("no-ip", "", true));
  startController();
  auto r = ctl_->reconcile("ns/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 1u);
  const json& s = creates[0].body;
  EXPECT_EQ(creates[0].resource, "discovery.k8s.io/v1/endpointslices");
  EXPECT_EQ(s["metadata"]["generateName"], "web-");
  EXPECT_EQ(s["metadata"]["labels"][kServiceNameLabel], "web");
  EXPECT_EQ(s["metadata"]["labels"][kSliceManagedByLabel], "endpointslice-controller.k8s.io");
  EXPECT_EQ(s["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["ports"], json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  ASSERT_EQ(s["endpoints"].size(), 3u);
  EXPECT_EQ(s["endpoints"][0], endpointFor("a", "10.0.0.1", true));
  EXPECT_EQ(s["endpoints"][1], endpointFor("b", "10.0.0.2", false));
  // A terminating pod stays listed: serving, not ready, terminating.
  EXPECT_EQ(s["endpoints"][2]["conditions"],
            json({{"ready", false}, {"serving", true}, {"terminating", true}}));

  // The cache has not seen the new slice: no second one.
  fake_.clearActions();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(writes().empty());
}

TEST_F(EndpointSliceTest, SplitsAtMaxEndpointsPerSlice) {
  fake_.put(res::services(), svcObj());
  for (int i = 0; i < 7; ++i)
    fake_.put(podsResource(), podObj("p" + std::to_string(i), "10.0.0." + std::to_string(10 + i), true));
  startController(3);
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 3u);
  EXPECT_EQ(creates[0].body["endpoints"].size(), 3u);
  EXPECT_EQ(creates[1].body["endpoints"].size(), 3u);
  EXPECT_EQ(creates[2].body["endpoints"].size(), 1u);
}

TEST_F(EndpointSliceTest, KeepsEndpointsInPlaceAndFillsRoomBeforeCreating) {
  fake_.put(res::services(), svcObj());
  // Slice s1 holds a and b; b is gone, c is new: c takes b's place, s2 is untouched.
  fake_.put(res::endpointSlices(), sliceObj("s1", {endpointFor("a", "10.0.0.1", true),
                                                   endpointFor("b", "10.0.0.2", true)}));
  fake_.put(res::endpointSlices(), sliceObj("s2", {endpointFor("d", "10.0.0.4", true),
                                                   endpointFor("e", "10.0.0.5", true)}));
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  fake_.put(podsResource(), podObj("c", "10.0.0.3", true));
  fake_.put(podsResource(), podObj("d", "10.0.0.4", true));
  fake_.put(podsResource(), podObj("e", "10.0.0.5", true));
  startController(2);
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "update");
  EXPECT_EQ(w[0].key, "ns/s1");
  EXPECT_EQ(w[0].body["metadata"]["resourceVersion"], "4");
  EXPECT_EQ(w[0].body["endpoints"], json({endpointFor("a", "10.0.0.1", true),
                                          endpointFor("c", "10.0.0.3", true)}));
}

TEST_F(EndpointSliceTest, UnchangedSlicesAreNotWrittenAndEmptiedOnesDeleted) {
  fake_.put(res::services(), svcObj());
  fake_.put(res::endpointSlices(), sliceObj("s1", {endpointFor("a", "10.0.0.1", true)}));
  fake_.put(res::endpointSlices(), sliceObj("s2", {endpointFor("gone", "10.0.0.9", true)}));
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "delete");
  EXPECT_EQ(w[0].key, "ns/s2");
  EXPECT_EQ(w[0].body["preconditions"]["uid"], "s2-uid");
}

TEST_F(EndpointSliceTest, AServiceSelectingNothingKeepsOnePlaceholder) {
  fake_.put(res::services(), svcObj());
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].body["endpoints"], json::array());
  EXPECT_EQ(creates[0].body["ports"], json::array());
}

TEST_F(EndpointSliceTest, ServiceWithoutSelectorIsLeftAlone) {
  fake_.put(res::services(), svcObj(nullptr));
  fake_.put(podsResource(), podObj("a", "10.0.0.1", true));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(writes().empty());
}

}  // namespace
}  // namespace berth::controllers
