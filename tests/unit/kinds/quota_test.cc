// ResourceQuota accounting (kinds/quota.h) and the ResourceQuota kind: what an object uses,
// which quotas select it, the pod constraints, validation and the Table row.
#include "apiserver/kinds/quota.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using kinds::QuotaUsage;
using testing::at;
using testing::check;
using testing::spec;
using Lines = std::vector<std::string>;

json pod(const char* containers, const char* extra = "{}") {
  json p = {{"metadata", {{"name", "p"}}}, {"spec", {{"containers", json::parse(containers)}}}};
  p["spec"].update(json::parse(extra));
  return p;
}

TEST(QuotaUsage, PodsCountTheirRequestsAndLimitsUntilTheyFinish) {
  json p = pod(R"([{"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                               "limits": {"memory": "128Mi"}}},
                  {"name": "b", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}])",
               R"({"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]})");
  QuotaUsage u = kinds::quotaUsage("", "pods", p);
  EXPECT_EQ(u["count/pods"], 1);
  EXPECT_EQ(u["pods"], 1);
  EXPECT_EQ(u["requests.cpu"], 2);  // the init container alone is larger than 750m
  EXPECT_EQ(u["cpu"], 2);
  EXPECT_EQ(u["requests.memory"], 64.0L * 1024 * 1024);
  EXPECT_EQ(u["limits.memory"], 128.0L * 1024 * 1024);
  EXPECT_EQ(u["limits.cpu"], 1);
  p["status"] = {{"phase", "Succeeded"}};
  EXPECT_EQ(kinds::quotaUsage("", "pods", p), (QuotaUsage{{"count/pods", 1}}));
}

TEST(QuotaUsage, PodResourcesCountSidecarsAndOverhead) {
  json p = pod(R"([{"name": "a", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}])",
               R"({"initContainers": [
                     {"name": "s", "restartPolicy": "Always",
                      "resources": {"requests": {"cpu": "500m", "memory": "128Mi"}}},
                     {"name": "i", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}}],
                   "overhead": {"cpu": "100m"}})");
  auto req = kinds::podResources(p["spec"], "requests", true);
  // cpu: max(1 + 500m, 2 + 500m the init container beside the sidecar) + 100m overhead.
  EXPECT_EQ(req["cpu"], 2.6L);
  // memory: containers and sidecar (1Gi + 128Mi) outweigh the init container with it.
  EXPECT_EQ(req["memory"], (1024.0L + 128) * 1024 * 1024);
  EXPECT_EQ(kinds::podResources(p["spec"], "requests", false)["cpu"], 2.5L);
  EXPECT_EQ(kinds::quotaUsage("", "pods", p)["requests.cpu"], 2.6L);
}

TEST(QuotaUsage, ServicesClaimsAndCounts) {
  json svc = {
      {"spec",
       {{"type", "LoadBalancer"}, {"ports", json::parse(R"([{"port": 80}, {"port": 443}])")}}}};
  EXPECT_EQ(kinds::quotaUsage("", "services", svc), (QuotaUsage{{"count/services", 1},
                                                                {"services", 1},
                                                                {"services.loadbalancers", 1},
                                                                {"services.nodeports", 2}}));
  json claim = {{"spec", {{"resources", {{"requests", {{"storage", "2Gi"}}}}}}}};
  EXPECT_EQ(kinds::quotaUsage("", "persistentvolumeclaims", claim)["requests.storage"],
            2.0L * 1024 * 1024 * 1024);
  EXPECT_EQ(kinds::quotaUsage("apps", "deployments", json::object()),
            (QuotaUsage{{"count/deployments.apps", 1}}));
  EXPECT_EQ(kinds::quotaUsage("", "configmaps", json::object()),
            (QuotaUsage{{"count/configmaps", 1}, {"configmaps", 1}}));

  json hard = {{"requests.cpu", "1"}};
  EXPECT_TRUE(kinds::quotaTracksKind(hard, "", "pods"));
  EXPECT_FALSE(kinds::quotaTracksKind(hard, "", "services"));
  EXPECT_TRUE(kinds::quotaTracksKind({{"count/deployments.apps", "1"}}, "apps", "deployments"));
  EXPECT_FALSE(kinds::quotaTracksKind({{"deployments", "1"}}, "apps", "deployments"));
}

TEST(QuotaScopes, SelectPodsOnly) {
  json besteffort = pod(R"([{"name": "a"}])");
  json burstable = pod(R"([{"name": "a", "resources": {"requests": {"cpu": "1"}}}])",
                       R"({"activeDeadlineSeconds": 60, "priorityClassName": "high"})");
  json q = {{"spec", {{"scopes", {"BestEffort"}}}}};
  EXPECT_TRUE(kinds::quotaSelects(q, "", "pods", besteffort));
  EXPECT_FALSE(kinds::quotaSelects(q, "", "pods", burstable));
  EXPECT_FALSE(kinds::quotaSelects(q, "", "services", json::object()));
  q = {{"spec", {{"scopes", {"NotBestEffort", "Terminating"}}}}};
  EXPECT_TRUE(kinds::quotaSelects(q, "", "pods", burstable));
  q = {{"spec",
        {{"scopeSelector",
          {{"matchExpressions", json::parse(R"([{"scopeName": "PriorityClass", "operator": "In",
                                                 "values": ["high", "top"]}])")}}}}}};
  EXPECT_TRUE(kinds::quotaSelects(q, "", "pods", burstable));
  EXPECT_FALSE(kinds::quotaSelects(q, "", "pods", besteffort));
  EXPECT_TRUE(kinds::quotaSelects(json::object(), "", "services", json::object()));
}

TEST(QuotaConstraints, ContainersMustStateWhatIsLimited) {
  json hard = {{"limits.memory", "1Gi"}, {"requests.cpu", "1"}, {"pods", "5"}};
  EXPECT_EQ(kinds::quotaPodConstraints(hard, pod(R"([{"name": "a"}, {"name": "b",
      "resources": {"requests": {"cpu": "1"}}}])")),
            "must specify limits.memory for: a,b; requests.cpu for: a");
  EXPECT_EQ(kinds::quotaPodConstraints({{"pods", "5"}}, pod(R"([{"name": "a"}])")), "");
}

TEST(ResourceQuotaKind, ValidationAndTable) {
  const KindSpec& k = spec("", "v1", "ResourceQuota");
  json q = {{"metadata", {{"name", "q"}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
            {"spec",
             {{"hard",
               {{"pods", "10"},
                {"requests.cpu", "2"},
                {"limits.memory", "1Gi"},
                {"count/deployments.apps", "3"},
                {"example.com/gpu", "1"}}}}}};
  EXPECT_EQ(check(k, q), Lines{});
  json bad = q;
  bad["spec"]["hard"] = {{"widgets", "1"}, {"pods", "1.5"}, {"cpu", "-1"}};
  bad["spec"]["scopes"] = {"BestEffort", "NotBestEffort", "Sometimes"};
  EXPECT_EQ(check(k, bad),
            (Lines{"spec.hard[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                   "spec.hard[pods]: Invalid value: \"1.5\": must be an integer",
                   "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource "
                   "for quota",
                   "spec.scopes: Invalid value: \"Sometimes\": unsupported scope",
                   "spec.scopes: Invalid value: [\"BestEffort\",\"NotBestEffort\",\"Sometimes\"]: "
                   "conflicting scopes"}));
  q["status"] = {{"hard", q["spec"]["hard"]},
                 {"used", {{"pods", "3"}, {"requests.cpu", "500m"}, {"limits.memory", "0"}}}};
  EXPECT_EQ(json(k.cells(q, at("2026-01-01T00:05:00Z"))), json::parse(R"(["q", "5m",
              "count/deployments.apps: 0/3, example.com/gpu: 0/1, pods: 3/10, requests.cpu: 500m/2",
              "limits.memory: 0/1Gi"])"));
}

}  // namespace
}  // namespace berth::apiserver
