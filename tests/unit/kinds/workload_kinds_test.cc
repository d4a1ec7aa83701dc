// StatefulSet: defaults, validation with upstream's messages, table rows.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::causeLines;
using testing::check;
using testing::defaulted;
using testing::spec;
using Lines = std::vector<std::string>;

json statefulSet() {
  return json::parse(R"({"metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}}}})");
}

TEST(StatefulSetKind, Defaults) {
  const KindSpec& k = spec("apps", "v1", "StatefulSet");
  EXPECT_EQ(k.short_names, std::vector<std::string>{"sts"});
  EXPECT_TRUE(k.has_scale);
  json s = defaulted(k, statefulSet());
  EXPECT_EQ(s["spec"]["replicas"], 1);
  EXPECT_EQ(s["spec"]["podManagementPolicy"], "OrderedReady");
  EXPECT_EQ(s["spec"]["updateStrategy"], json::parse(R"({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})"));
  EXPECT_EQ(s["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json::parse(R"({"whenDeleted": "Retain", "whenScaled": "Retain"})"));
  json ondelete = statefulSet();
  ondelete["spec"]["updateStrategy"] = {{"type", "OnDelete"}};
  EXPECT_FALSE(defaulted(k, ondelete)["spec"]["updateStrategy"].contains("rollingUpdate"));
}

TEST(StatefulSetKind, Validation) {
  const KindSpec& k = spec("apps", "v1", "StatefulSet");
  EXPECT_EQ(check(k, statefulSet()), Lines{});
  json noService = statefulSet();
  noService["spec"].erase("serviceName");
  EXPECT_EQ(check(k, noService), Lines{});  // optional since 1.32
  json bad = statefulSet();
  bad["spec"]["podManagementPolicy"] = "Sometimes";
  bad["spec"]["updateStrategy"] = {{"type", "OnDelete"}, {"rollingUpdate", {{"partition", 1}}}};
  bad["spec"]["ordinals"] = {{"start", -1}};
  bad["spec"]["template"]["metadata"]["labels"] = {{"app", "other"}};
  EXPECT_EQ(check(k, bad),
            (Lines{"spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: "
                   "`selector` does not match template `labels`",
                   "spec.ordinals.start: Invalid value: -1: must be greater than or equal to 0",
                   "spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'",
                   "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed "
                   "for updateStrategy 'RollingUpdate'"}));
  json partition = statefulSet();
  partition["spec"]["updateStrategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", -2}}}};
  EXPECT_EQ(check(k, partition),
            Lines{"spec.updateStrategy.rollingUpdate.partition: Invalid value: -2: must be greater "
                  "than or equal to 0"});
}

TEST(StatefulSetKind, OnlySomeSpecFieldsMayChange) {
  const KindSpec& k = spec("apps", "v1", "StatefulSet");
  json old = defaulted(k, statefulSet());
  json next = old;
  next["spec"]["replicas"] = 5;
  next["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  next["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2;
  next["spec"]["minReadySeconds"] = 3;
  next["spec"]["revisionHistoryLimit"] = 2;
  next["spec"]["ordinals"] = {{"start", 1}};
  EXPECT_EQ(check(k, next, &old), Lines{});
  for (const char* field : {"serviceName", "podManagementPolicy"}) {
    json changed = old;
    changed["spec"][field] = field == std::string("serviceName") ? "other" : "Parallel";
    EXPECT_EQ(check(k, changed, &old),
              Lines{"spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
                    "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' "
                    "and 'minReadySeconds' are forbidden"})
        << field;
  }
}

TEST(StatefulSetKind, Table) {
  const KindSpec& k = spec("apps", "v1", "StatefulSet");
  std::vector<std::string> names;
  for (const auto& c : k.columns) names.push_back(c.name + (c.priority ? "*" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Age", "Containers*", "Images*"}));
  json s = defaulted(k, statefulSet());
  s["spec"]["replicas"] = 3;
  s["status"] = {{"readyReplicas", 2}};
  EXPECT_EQ(json(k.cells(s, at("2026-01-01T00:05:00Z"))),
            json::parse(R"(["web", "2/3", "5m", "nginx", "nginx:1"])"));
}

}  // namespace
}  // namespace berth::apiserver
