// scheduling.k8s.io/v1 PriorityClass: defaults, the reserved "system-" names, the highest
// user-defined value, what an update may not change, and its Table row.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::check;
using testing::defaulted;
using testing::spec;
using Lines = std::vector<std::string>;

json priorityClass(const std::string& name, int64_t value) {
  return {{"metadata", {{"name", name}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"value", value}};
}

TEST(PriorityClassKind, DefaultsAndTableRow) {
  const KindSpec& k = spec("scheduling.k8s.io", "v1", "PriorityClass");
  EXPECT_FALSE(k.namespaced);
  json pc = defaulted(k, priorityClass("batch", -5));
  EXPECT_EQ(pc["preemptionPolicy"], "PreemptLowerPriority");
  EXPECT_EQ(check(k, pc), Lines{});  // negative values are allowed
  pc["globalDefault"] = true;
  EXPECT_EQ(json(k.cells(pc, at("2026-01-01T00:03:00Z"))),
            json::parse(R"(["batch", -5, true, "3m", "PreemptLowerPriority"])"));
  pc["preemptionPolicy"] = "Never";
  EXPECT_EQ(k.cells(pc, at("2026-01-01T00:03:00Z"))[4], "Never");
}

TEST(PriorityClassKind, ValueAndNameLimits) {
  const KindSpec& k = spec("scheduling.k8s.io", "v1", "PriorityClass");
  EXPECT_EQ(check(k, priorityClass("top", 1000000000)), Lines{});
  EXPECT_EQ(check(k, priorityClass("over", 1000000001)),
            Lines{"value: Forbidden: maximum allowed value of a user defined priority is "
                  "1000000000"});
  // The system classes, with their own values, are the only names with the prefix.
  EXPECT_EQ(check(k, priorityClass("system-node-critical", 2000001000)), Lines{});
  EXPECT_EQ(check(k, priorityClass("system-cluster-critical", 2000000000)), Lines{});
  const std::string reserved =
      "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for "
      "system use only. error: ";
  EXPECT_EQ(check(k, priorityClass("system-mine", 5)),
            Lines{reserved + "system-mine is not a known system priority class"});
  EXPECT_EQ(check(k, priorityClass("system-node-critical", 5)),
            Lines{reserved + "value of system-node-critical PriorityClass must be 2000001000"});
  json dflt = priorityClass("system-cluster-critical", 2000000000);
  dflt["globalDefault"] = true;
  EXPECT_EQ(
      check(k, dflt),
      Lines{reserved + "globalDefault of system-cluster-critical PriorityClass must be false"});
  json bad = priorityClass("p", 1);
  bad["preemptionPolicy"] = "Sometimes";
  EXPECT_EQ(check(k, bad), Lines{"preemptionPolicy: Unsupported value: \"Sometimes\": supported "
                                 "values: \"Never\", \"PreemptLowerPriority\""});
}

TEST(PriorityClassKind, ValueAndPreemptionPolicyAreFixed) {
  const KindSpec& k = spec("scheduling.k8s.io", "v1", "PriorityClass");
  json old = defaulted(k, priorityClass("web", 100));
  json changed = old;
  changed["description"] = "front ends";
  changed["globalDefault"] = true;
  EXPECT_EQ(check(k, changed, &old), Lines{});
  changed["value"] = 101;
  changed["preemptionPolicy"] = "Never";
  EXPECT_EQ(check(k, changed, &old),
            (Lines{"value: Forbidden: may not be changed in an update.",
                   "preemptionPolicy: Invalid value: \"Never\": field is immutable"}));
}

}  // namespace
}  // namespace berth::apiserver
