#include "apiserver/core/pod_admission.h"

#include <gtest/gtest.h>

namespace berth::apiserver {
namespace {

using json = nlohmann::json;

TimePoint at(const char* s) {
  TimePoint t;
  EXPECT_TRUE(parseRfc3339(s, &t));
  return t;
}

TEST(DefaultTolerationSeconds, AddsBothWithTheConfiguredSeconds) {
  json pod = {{"spec", {{"containers", json::array()}}}};
  addDefaultTolerations(pod, 7, 9);
  json want = json::array({{{"key", "node.kubernetes.io/not-ready"}, {"operator", "Exists"},
                            {"effect", "NoExecute"}, {"tolerationSeconds", 7}},
                           {{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"},
                            {"effect", "NoExecute"}, {"tolerationSeconds", 9}}});
  EXPECT_EQ(pod["spec"]["tolerations"], want);
}

TEST(DefaultTolerationSeconds, KeepsWhatThePodAlreadyTolerates) {
  json own = {{"key", "node.kubernetes.io/unreachable"}, {"operator", "Exists"},
              {"effect", "NoExecute"}, {"tolerationSeconds", 2}};
  json pod = {{"spec", {{"tolerations", {own}}}}};
  addDefaultTolerations(pod, 300, 300);
  ASSERT_EQ(pod["spec"]["tolerations"].size(), 2u);
  EXPECT_EQ(pod["spec"]["tolerations"][0], own);
  EXPECT_EQ(pod["spec"]["tolerations"][1]["key"], "node.kubernetes.io/not-ready");
  // A toleration of every taint covers both.
  json all = {{"spec", {{"tolerations", {{{"operator", "Exists"}}}}}}};
  addDefaultTolerations(all, 300, 300);
  EXPECT_EQ(all["spec"]["tolerations"].size(), 1u);
}

json pdb(int allowed, int generation = 2, int observed = 2) {
  return {{"metadata", {{"name", "b"}, {"generation", generation}}},
          {"spec", {{"minAvailable", 2}}},
          {"status", {{"observedGeneration", observed}, {"disruptionsAllowed", allowed},
                      {"desiredHealthy", 2}, {"currentHealthy", 2 + allowed}, {"expectedPods", 3},
                      {"conditions", {{{"type", "DisruptionAllowed"}, {"status", allowed > 0 ? "True" : "False"},
                                       {"reason", allowed > 0 ? "SufficientPods" : "InsufficientPods"}}}}}}};
}

TEST(Eviction, BudgetAtZeroIsTooManyRequestsWithACause) {
  auto r = consumeDisruption(pdb(0), "p", at("2026-01-01T00:00:00Z"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kTooManyRequests);
  EXPECT_EQ(r.status().message(), "Cannot evict pod as it would violate the pod's disruption budget.");
  ASSERT_EQ(r.status().causes().size(), 1u);
  EXPECT_EQ(r.status().causes()[0].reason, "DisruptionBudget");
  EXPECT_EQ(r.status().causes()[0].message, "The disruption budget b needs 2 healthy pods and has 2 currently");
}

TEST(Eviction, StaleBudgetStatusRefuses) {
  auto r = consumeDisruption(pdb(1, 3, 2), "p", at("2026-01-01T00:00:00Z"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kTooManyRequests);
  EXPECT_EQ(r.status().causes()[0].message, "The disruption budget b is still being processed by the server.");
}

TEST(Eviction, TakesOneDisruptionAndRecordsThePod) {
  auto r = consumeDisruption(pdb(1), "p", at("2026-01-01T00:00:00Z"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ((*r)["status"]["disruptionsAllowed"], 0);
  EXPECT_EQ((*r)["status"]["disruptedPods"]["p"], "2026-01-01T00:00:00Z");
  EXPECT_EQ((*r)["status"]["conditions"][0]["status"], "False");
  EXPECT_EQ((*r)["status"]["conditions"][0]["reason"], "InsufficientPods");
  auto two = consumeDisruption(pdb(2), "p", at("2026-01-01T00:00:00Z"));
  EXPECT_EQ((*two)["status"]["disruptionsAllowed"], 1);
  EXPECT_EQ((*two)["status"]["conditions"][0]["status"], "True");
}

TEST(Eviction, WhichPodsIgnoreTheBudget) {
  json running = {{"metadata", json::object()}, {"status", {{"phase", "Running"}}}};
  EXPECT_FALSE(evictionIgnoresBudget(running));
  for (const char* phase : {"Pending", "Succeeded", "Failed"})
    EXPECT_TRUE(evictionIgnoresBudget({{"status", {{"phase", phase}}}})) << phase;
  json deleting = running;
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_TRUE(evictionIgnoresBudget(deleting));

  json unready = running;
  unready["status"]["conditions"] = {{{"type", "Ready"}, {"status", "False"}}};
  json ready = running;
  ready["status"]["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  EXPECT_FALSE(unhealthyPodMayGo(ready, pdb(0)));
  EXPECT_TRUE(unhealthyPodMayGo(unready, pdb(0)));  // currentHealthy 2 >= desiredHealthy 2
  json short_budget = pdb(0);
  short_budget["status"]["currentHealthy"] = 1;
  EXPECT_FALSE(unhealthyPodMayGo(unready, short_budget));
  short_budget["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow";
  EXPECT_TRUE(unhealthyPodMayGo(unready, short_budget));
}

TEST(FargateAdmission, MatchingProfileTakesThePod) {
  std::vector<json> profiles = {
      json::parse(R"({"metadata":{"name":"zz"},"spec":{"selectors":[{"namespace":"jobs"}]}})"),
      json::parse(R"({"metadata":{"name":"aa"},"spec":{"selectors":[{"namespace":"web"},
                   {"namespace":"jobs","labels":{"tier":"batch"}}]}})"),
      json::parse(R"({"metadata":{"name":"gone","deletionTimestamp":"2026-01-01T00:00:00Z"},
                   "spec":{"selectors":[{"namespace":"other"}]}})")};
  json pod = json::parse(R"({"metadata":{"name":"p","namespace":"jobs","labels":{"tier":"batch"}},
                             "spec":{"containers":[{"name":"c"}]}})");
  EXPECT_EQ(applyFargateProfile(pod, profiles), "aa");  // first by name
  EXPECT_EQ(pod["spec"]["schedulerName"], "fargate-scheduler");
  EXPECT_EQ(pod["metadata"]["labels"]["eks.amazonaws.com/fargate-profile"], "aa");
  ASSERT_EQ(pod["spec"]["tolerations"].size(), 1u);
  EXPECT_EQ(pod["spec"]["tolerations"][0]["key"], "eks.amazonaws.com/compute-type");
  EXPECT_EQ(pod["spec"]["tolerations"][0]["effect"], "NoSchedule");

  // Labels must all match; a namespace alone only matches a selector without labels.
  json unlabelled = json::parse(R"({"metadata":{"name":"q","namespace":"jobs"},"spec":{}})");
  EXPECT_EQ(applyFargateProfile(unlabelled, profiles), "zz");
  json elsewhere = json::parse(R"({"metadata":{"name":"r","namespace":"default"},"spec":{}})");
  EXPECT_EQ(applyFargateProfile(elsewhere, profiles), "");
  EXPECT_FALSE(elsewhere["spec"].contains("schedulerName"));
  // A profile being deleted takes nothing; bound pods and other schedulers are left alone.
  json other = json::parse(R"({"metadata":{"name":"s","namespace":"other"},"spec":{}})");
  EXPECT_EQ(applyFargateProfile(other, profiles), "");
  json bound = json::parse(R"({"metadata":{"name":"t","namespace":"jobs"},"spec":{"nodeName":"n1"}})");
  EXPECT_EQ(applyFargateProfile(bound, profiles), "");
  json custom = json::parse(R"({"metadata":{"name":"u","namespace":"jobs"},"spec":{"schedulerName":"mine"}})");
  EXPECT_EQ(applyFargateProfile(custom, profiles), "");
  EXPECT_EQ(custom["spec"]["schedulerName"], "mine");
}

// ---- Priority admission ----

json priorityClass(const std::string& name, int64_t value, bool global_default = false,
                   const char* policy = "PreemptLowerPriority") {
  return {{"metadata", {{"name", name}}},
          {"value", value},
          {"globalDefault", global_default},
          {"preemptionPolicy", policy}};
}

json podNaming(const std::string& priority_class) {
  json pod = {{"metadata", {{"name", "p"}}}, {"spec", {{"containers", json::array()}}}};
  if (!priority_class.empty()) pod["spec"]["priorityClassName"] = priority_class;
  return pod;
}

TEST(PodPriority, NoClassAndNoDefaultGivesZero) {
  json pod = podNaming("");
  ASSERT_TRUE(admitPodPriority(pod, {priorityClass("high", 1000)}).isOk());
  EXPECT_EQ(pod["spec"]["priority"], 0);
  EXPECT_EQ(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
  EXPECT_FALSE(pod["spec"].contains("priorityClassName"));
}

TEST(PodPriority, TheNamedClassGivesValueAndPolicy) {
  std::vector<json> classes = {priorityClass("high", 1000, false, "Never"),
                               priorityClass("low", -10, true)};
  json pod = podNaming("high");
  ASSERT_TRUE(admitPodPriority(pod, classes).isOk());
  EXPECT_EQ(pod["spec"]["priority"], 1000);
  EXPECT_EQ(pod["spec"]["preemptionPolicy"], "Never");
  // The same values written by the client are accepted (a pod copied from another).
  json copy = pod;
  EXPECT_TRUE(admitPodPriority(copy, classes).isOk());
  EXPECT_EQ(copy, pod);
}

TEST(PodPriority, TheGlobalDefaultNamesItselfOnThePod) {
  // Two defaults (a race upstream allows): the lower value wins.
  std::vector<json> classes = {priorityClass("a", 50, true), priorityClass("b", 20, true),
                               priorityClass("c", 10)};
  ASSERT_NE(globalDefaultPriorityClass(classes), nullptr);
  EXPECT_EQ((*globalDefaultPriorityClass(classes))["metadata"]["name"], "b");
  json pod = podNaming("");
  ASSERT_TRUE(admitPodPriority(pod, classes).isOk());
  EXPECT_EQ(pod["spec"]["priorityClassName"], "b");
  EXPECT_EQ(pod["spec"]["priority"], 20);
  EXPECT_EQ(globalDefaultPriorityClass({priorityClass("c", 10)}), nullptr);
}

TEST(PodPriority, RefusesAMissingClassAndValuesThatDisagree) {
  std::vector<json> classes = {priorityClass("high", 1000, false, "Never")};
  json pod = podNaming("nope");
  Status st = admitPodPriority(pod, classes);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(), "no PriorityClass with name nope was found");

  pod = podNaming("high");
  pod["spec"]["priority"] = 5;
  st = admitPodPriority(pod, classes);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "the integer value of priority (5) must not be provided in pod spec; priority "
            "admission controller computed 1000 from the given PriorityClass name");

  pod = podNaming("high");
  pod["spec"]["preemptionPolicy"] = "PreemptLowerPriority";
  st = admitPodPriority(pod, classes);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in "
            "pod spec; priority admission controller computed Never from the given PriorityClass "
            "name");
}

// ---- LimitRanger ----

json rangeOf(const std::string& name, const char* items) {
  return {{"metadata", {{"name", name}, {"namespace", "ns"}}},
          {"spec", {{"limits", json::parse(items)}}}};
}

json podWith(const char* containers, const char* init = "[]") {
  return {
      {"metadata", {{"name", "p"}}},
      {"spec", {{"containers", json::parse(containers)}, {"initContainers", json::parse(init)}}}};
}

TEST(LimitRanger, FillsWhatContainersLeaveUnsetAndSaysSo) {
  std::vector<json> ranges = {
      rangeOf("b", R"([{"type": "Container", "default": {"cpu": "1", "memory": "1Gi"},
                        "defaultRequest": {"cpu": "200m", "memory": "1Gi"}}])"),
      rangeOf("a", R"([{"type": "Container", "default": {"cpu": "300m"},
                        "defaultRequest": {"cpu": "100m"}}])")};
  json pod = podWith(R"([{"name": "app", "resources": {"requests": {"memory": "64Mi"}}}])",
                     R"([{"name": "init"}])");
  ASSERT_TRUE(applyLimitRanges(pod, ranges).isOk());
  // "a" goes first (by name) and wins cpu; "b" fills what is still unset.
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"],
            json::parse(R"({"requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "300m", "memory": "1Gi"}})"));
  EXPECT_EQ(pod["spec"]["initContainers"][0]["resources"]["requests"]["cpu"], "100m");
  // The annotation tells what the last range to set anything set.
  EXPECT_EQ(pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
            "LimitRanger plugin set: memory limit for container app; memory request for init "
            "container init; memory limit for init container init");
}

TEST(LimitRanger, ContainerBoundsWithUpstreamsMessages) {
  std::vector<json> ranges = {rangeOf("r", R"([{"type": "Container",
      "min": {"cpu": "100m"}, "max": {"cpu": "1", "memory": "1Gi"},
      "maxLimitRequestRatio": {"cpu": "4"}}])")};
  json ok = podWith(R"([{"name": "a", "resources": {"requests": {"cpu": "250m"},
                                                   "limits": {"cpu": "1", "memory": "1Gi"}}}])");
  EXPECT_TRUE(applyLimitRanges(ok, ranges).isOk());

  json low = podWith(R"([{"name": "a", "resources": {"requests": {"cpu": "50m"},
                                                    "limits": {"cpu": "1", "memory": "512Mi"}}}])");
  Status st = applyLimitRanges(low, ranges);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "[minimum cpu usage per Container is 100m, but request is 50m., cpu max limit to "
            "request ratio per Container is 4, but provided ratio is 20.000000.]");

  json bare = podWith(R"([{"name": "a"}])");
  st = applyLimitRanges(bare, ranges);
  EXPECT_EQ(st.message(),
            "[minimum cpu usage per Container is 100m.  No request is specified., maximum cpu "
            "usage per Container is 1.  No limit is specified., maximum memory usage per "
            "Container is 1Gi.  No limit is specified., cpu max limit to request ratio per "
            "Container is 4, but no request is specified or request is 0.]");

  json high = podWith(R"([{"name": "a", "resources": {"requests": {"cpu": "2"},
                                                     "limits": {"cpu": "2", "memory": "2Gi"}}}])");
  st = applyLimitRanges(high, ranges);
  EXPECT_EQ(st.message(),
            "[maximum cpu usage per Container is 1, but limit is 2., maximum memory usage per "
            "Container is 1Gi, but limit is 2Gi.]");
}

TEST(LimitRanger, PodBoundsOnTheTotal) {
  std::vector<json> ranges = {
      rangeOf("r", R"([{"type": "Pod", "max": {"cpu": "2", "memory": "1Gi"}}])")};
  // Containers add up; an init container counts when it alone is larger.
  json pod =
      podWith(R"([{"name": "a", "resources": {"limits": {"cpu": "1500m", "memory": "512Mi"}}},
                         {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "256Mi"}}}])",
              R"([{"name": "i", "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}}])");
  Status st = applyLimitRanges(pod, ranges);
  EXPECT_EQ(st.code(), Code::kForbidden);
  EXPECT_EQ(st.message(),
            "[maximum cpu usage per Pod is 2, but limit is 2500m., maximum memory usage per Pod "
            "is 1Gi, but limit is 2Gi.]");
  json fits = podWith(R"([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}},
                          {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}])");
  EXPECT_TRUE(applyLimitRanges(fits, ranges).isOk());
  EXPECT_TRUE(applyLimitRanges(fits, {}).isOk());
}

TEST(LimitRanger, PodTotalCountsSidecarsButNotOverhead) {
  std::vector<json> ranges = {rangeOf("r", R"([{"type": "Pod", "max": {"cpu": "2"}}])")};
  // A sidecar (restartPolicy Always) runs beside the containers: 1500m + 1 = 2500m.
  json pod = podWith(R"([{"name": "a", "resources": {"limits": {"cpu": "1500m"}}}])",
                     R"([{"name": "s", "restartPolicy": "Always",
                          "resources": {"limits": {"cpu": "1"}}}])");
  EXPECT_EQ(applyLimitRanges(pod, ranges).message(),
            "maximum cpu usage per Pod is 2, but limit is 2500m.");
  // An init container after it runs beside the sidecar: 1 + 1500m.
  json init =
      podWith(R"([{"name": "a", "resources": {"limits": {"cpu": "500m"}}}])",
              R"([{"name": "s", "restartPolicy": "Always", "resources": {"limits": {"cpu": "1"}}},
                          {"name": "i", "resources": {"limits": {"cpu": "1500m"}}}])");
  EXPECT_EQ(applyLimitRanges(init, ranges).message(),
            "maximum cpu usage per Pod is 2, but limit is 2500m.");
  // Overhead is set after LimitRanger upstream, so it does not count here.
  json overhead = podWith(R"([{"name": "a", "resources": {"limits": {"cpu": "2"}}}])");
  overhead["spec"]["overhead"] = {{"cpu", "250m"}};
  EXPECT_TRUE(applyLimitRanges(overhead, ranges).isOk());
}

TEST(LimitRanger, ClaimsStorageBounds) {
  std::vector<json> ranges = {rangeOf(
      "r",
      R"([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}])")};
  auto claim = [](const char* storage) {
    return json{{"spec", {{"resources", {{"requests", {{"storage", storage}}}}}}}};
  };
  EXPECT_TRUE(checkClaimLimits(claim("5Gi"), ranges).isOk());
  EXPECT_EQ(checkClaimLimits(claim("500Mi"), ranges).message(),
            "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi.");
  EXPECT_EQ(checkClaimLimits(claim("20Gi"), ranges).message(),
            "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi.");
  EXPECT_EQ(checkClaimLimits(json{{"spec", json::object()}}, ranges).code(), Code::kForbidden);
}

}  // namespace
}  // namespace berth::apiserver
