#include "controllers/hpa_controller.h"

#include <gtest/gtest.h>

#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

const client::Resource kHpas{"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, {}};

// A FakeClient whose scale subresources answer GETs from `scales` (path -> Scale).
class ScaleClient : public testing::FakeClient {
 public:
  std::map<std::string, json> scales;
  Result<json> request(const std::string& method, const std::string& path, const std::string& body,
                       const std::string& ct) override {
    auto it = scales.find(path);
    if (method == "GET" && it != scales.end()) return it->second;
    return FakeClient::request(method, path, body, ct);
  }
};

json hpaObj(json metrics = nullptr, int64_t min = 2, int64_t max = 3) {
  json h = {{"apiVersion", "autoscaling/v2"}, {"kind", "HorizontalPodAutoscaler"},
            {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"generation", 4}, {"resourceVersion", "9"}}},
            {"spec", {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"}}},
                      {"minReplicas", min}, {"maxReplicas", max}}}};
  if (!metrics.is_null()) h["spec"]["metrics"] = metrics;
  return h;
}

json scaleObj(int64_t replicas) {
  return {{"apiVersion", "autoscaling/v1"}, {"kind", "Scale"},
          {"metadata", {{"name", "web"}, {"namespace", "ns"}, {"resourceVersion", "5"}}},
          {"spec", {{"replicas", replicas}}}, {"status", {{"replicas", replicas}}}};
}

const json* condition(const json& status, const std::string& type) {
  auto conds = status.find("conditions");
  if (conds == status.end() || !conds->is_array()) return nullptr;
  for (const auto& c : *conds)
    if (c["type"] == type) return &c;
  return nullptr;
}

constexpr const char* kScalePath = "/apis/apps/v1/namespaces/ns/deployments/web/scale";

class HpaTest : public testing::WorkloadFixture<HpaController, ScaleClient> {
 protected:
  void startController(const json& hpa) {
    fake_.put(kHpas, hpa);
    start([this](client::Client* c, client::InformerFactory* f) {
      HpaController::Config cfg;
      cfg.clock = &clock_;
      return std::make_unique<HpaController>(c, f, cfg);
    });
  }
  json lastStatus() {
    auto st = actions("update/status");
    EXPECT_FALSE(st.empty());
    return st.empty() ? json::object() : st.back().body["status"];
  }
};

TEST_F(HpaTest, AboveMaxScalesDownToMax) {
  fake_.scales[kScalePath] = scaleObj(6);
  startController(hpaObj());
  auto r = ctl_->reconcile("ns/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  EXPECT_EQ(r.requeue_after, std::chrono::milliseconds(15000));  // periodic resync
  auto scales = actions("update/scale");
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_EQ(scales[0].key, "ns/web");
  EXPECT_EQ(scales[0].resource, "apps/v1/deployments");
  EXPECT_EQ(scales[0].body["spec"]["replicas"], 3);
  EXPECT_EQ(scales[0].body["metadata"]["resourceVersion"], "5");
  json st = lastStatus();
  EXPECT_EQ(st["currentReplicas"], 6);
  EXPECT_EQ(st["desiredReplicas"], 3);
  EXPECT_EQ(st["lastScaleTime"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(st["observedGeneration"], 4);
  const json* able = condition(st, "AbleToScale");
  ASSERT_NE(able, nullptr);
  EXPECT_EQ((*able)["status"], "True");
  EXPECT_EQ((*able)["reason"], "SucceededRescale");
}

TEST_F(HpaTest, BelowMinScalesUpToMin) {
  fake_.scales[kScalePath] = scaleObj(1);
  startController(hpaObj());
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  auto scales = actions("update/scale");
  ASSERT_EQ(scales.size(), 1u);
  EXPECT_EQ(scales[0].body["spec"]["replicas"], 2);
  EXPECT_EQ(lastStatus()["desiredReplicas"], 2);
}

TEST_F(HpaTest, ZeroReplicasDisablesScaling) {
  fake_.scales[kScalePath] = scaleObj(0);
  startController(hpaObj());
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(actions("update/scale").empty());
  json st = lastStatus();
  EXPECT_EQ(st["desiredReplicas"], 0);
  const json* active = condition(st, "ScalingActive");
  ASSERT_NE(active, nullptr);
  EXPECT_EQ((*active)["status"], "False");
  EXPECT_EQ((*active)["reason"], "ScalingDisabled");
}

TEST_F(HpaTest, InRangeReportsMissingMetricsApi) {
  fake_.scales[kScalePath] = scaleObj(2);
  json pods = json::array({{{"type", "Pods"}, {"pods", {{"metric", {{"name", "qps"}}},
                                                         {"target", {{"type", "AverageValue"}, {"averageValue", "1"}}}}}}});
  startController(hpaObj(pods));
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(actions("update/scale").empty());
  json st = lastStatus();
  EXPECT_EQ(st["currentReplicas"], 2);
  EXPECT_EQ(st["desiredReplicas"], 0);  // always present, as upstream's (no omitempty)
  EXPECT_FALSE(st.contains("lastScaleTime"));
  const json* active = condition(st, "ScalingActive");
  ASSERT_NE(active, nullptr);
  EXPECT_EQ((*active)["status"], "False");
  EXPECT_EQ((*active)["reason"], "FailedGetPodsMetric");
  EXPECT_NE((*active)["message"].get<std::string>().find("custom.metrics.k8s.io"), std::string::npos);
  EXPECT_EQ(condition(st, "AbleToScale")->value("reason", ""), "SucceededGetScale");
}

TEST_F(HpaTest, MissingTargetIsFailedGetScale) {
  startController(hpaObj());
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  EXPECT_TRUE(actions("update/scale").empty());
  json st = lastStatus();
  const json* able = condition(st, "AbleToScale");
  ASSERT_NE(able, nullptr);
  EXPECT_EQ((*able)["status"], "False");
  EXPECT_EQ((*able)["reason"], "FailedGetScale");
}

TEST_F(HpaTest, TransitionTimeKeptWhileConditionHolds) {
  fake_.scales[kScalePath] = scaleObj(2);
  json h = hpaObj();
  h["status"] = {{"observedGeneration", 4}, {"currentReplicas", 2},
                 {"conditions", {{{"type", "AbleToScale"}, {"status", "True"}, {"lastTransitionTime", "2025-01-01T00:00:00Z"},
                                  {"reason", "SucceededGetScale"},
                                  {"message", "the HPA controller was able to get the target's current scale"}}}}};
  startController(h);
  ASSERT_TRUE(ctl_->reconcile("ns/web").error.isOk());
  json st = lastStatus();  // ScalingActive is new, so one write
  EXPECT_EQ(condition(st, "AbleToScale")->value("lastTransitionTime", ""), "2025-01-01T00:00:00Z");
}

}  // namespace
}  // namespace berth::controllers
