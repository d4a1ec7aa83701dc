// core/v1 LimitRange: the Container item's defaults, the ordering of min / default request /
// default / max, Pod items without defaults, claims' storage bounds, and its Table row.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "apiserver/kinds/quantity.h"
#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::check;
using testing::defaulted;
using testing::spec;
using Lines = std::vector<std::string>;

json limitRange(const json& items) {
  return {{"metadata", {{"name", "limits"}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec", {{"limits", items}}}};
}

TEST(LimitRangeKind, ContainerDefaultsComeFromMaxThenDefaultThenMin) {
  const KindSpec& k = spec("", "v1", "LimitRange");
  json lr = defaulted(k, limitRange(json::parse(R"([
      {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"ephemeral-storage": "1Gi"},
       "default": {"cpu": "500m"}},
      {"type": "Pod", "max": {"cpu": "4"}}])")));
  const json& c = lr["spec"]["limits"][0];
  EXPECT_EQ(c["default"], json::parse(R"({"cpu": "500m", "memory": "1Gi"})"));
  EXPECT_EQ(c["defaultRequest"],
            json::parse(R"({"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1Gi"})"));
  EXPECT_FALSE(lr["spec"]["limits"][1].contains("default"));  // only Container items
  EXPECT_EQ(check(k, lr), Lines{});
  EXPECT_EQ(json(k.cells(lr, at("2026-01-01T00:03:00Z"))),
            json::parse(R"(["limits", "2026-01-01T00:00:00Z"])"));
}

TEST(LimitRangeKind, BoundsMustBeInOrder) {
  const KindSpec& k = spec("", "v1", "LimitRange");
  EXPECT_EQ(check(k, limitRange(json::parse(R"([{"type": "Container",
      "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"cpu": "1"},
      "defaultRequest": {"cpu": "1500m"}, "maxLimitRequestRatio": {"cpu": "500m"}}])"))),
            (Lines{"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than "
                   "max value 1",
                   "spec.limits[0].defaultRequest[cpu]: Invalid value: \"1500m\": min value 2 is "
                   "greater than default request value 1500m",
                   "spec.limits[0].defaultRequest[cpu]: Invalid value: \"1500m\": default request "
                   "value 1500m is greater than max value 1",
                   "spec.limits[0].defaultRequest[cpu]: Invalid value: \"1500m\": default request "
                   "value 1500m is greater than default limit value 1",
                   "spec.limits[0].default[cpu]: Invalid value: \"2\": min value 2 is greater "
                   "than default value 1",
                   "spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: \"500m\": ratio "
                   "500m is less than 1"}));
}

TEST(LimitRangeKind, PodItemsTakeNoDefaultsAndClaimsNeedAStorageBound) {
  const KindSpec& k = spec("", "v1", "LimitRange");
  EXPECT_EQ(check(k, limitRange(json::parse(R"([
      {"type": "Pod", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}},
      {"type": "PersistentVolumeClaim", "max": {"cpu": "1"}},
      {"type": "Pod", "max": {"memory": "lots"}}])"))),
            (Lines{"spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
                   "spec.limits[0].defaultRequest: Forbidden: may not be specified when `type` is "
                   "'Pod'",
                   "spec.limits[1].limits: Required value: either minimum or maximum storage "
                   "value is required, but neither was provided",
                   "spec.limits[2].type: Duplicate value: \"Pod\"",
                   "spec.limits[2].max[memory]: Invalid value: \"lots\": " +
                       std::string(kQuantityFormatError)}));
  EXPECT_EQ(check(k, json::parse(R"({"metadata": {"name": "x"}, "spec": {}})")),
            Lines{"spec.limits: Required value"});
}

TEST(Quantity, CanonicalText) {
  EXPECT_EQ(formatQuantity(1.5L, false), "1500m");
  EXPECT_EQ(formatQuantity(2, false), "2");
  EXPECT_EQ(formatQuantity(2000, false), "2k");
  EXPECT_EQ(formatQuantity(1500, false), "1500");
  EXPECT_EQ(formatQuantity(0, false), "0");
  EXPECT_EQ(formatQuantity(512.0L * 1024 * 1024, true), "512Mi");
  EXPECT_EQ(formatQuantity(3.0L * 1024 * 1024 * 1024, true), "3Gi");
  EXPECT_EQ(formatQuantity(1536, true), "1536");   // 1.5Ki: not a whole multiple
  EXPECT_EQ(formatQuantity(0.25L, true), "250m");  // not whole: decimal
}

}  // namespace
}  // namespace berth::apiserver
