// CronJob: defaults, validation with upstream's messages, table rows.
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

json cronJob(const std::string& schedule) {
  json cj = json::parse(R"({"metadata": {"name": "tick", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"jobTemplate": {"spec": {"template": {"spec": {
      "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}})");
  cj["spec"]["schedule"] = schedule;
  return cj;
}

TEST(CronJobKind, DefaultsAndTable) {
  const KindSpec& k = spec("batch", "v1", "CronJob");
  EXPECT_EQ(k.short_names, std::vector<std::string>{"cj"});
  json cj = defaulted(k, cronJob("*/5 * * * *"));
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["suspend"], false);
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["failedJobsHistoryLimit"], 1);
  std::vector<std::string> names;
  for (const auto& c : k.columns)
    if (c.priority == 0) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Schedule", "Timezone", "Suspend", "Active",
                                             "Last Schedule", "Age"}));
  auto row = k.cells(cj, at("2026-01-01T01:00:00Z"));
  EXPECT_EQ(json(std::vector<json>(row.begin(), row.begin() + 7)),
            json::parse(R"(["tick", "*/5 * * * *", "<none>", "False", 0, "<none>", "60m"])"));
  cj["spec"]["timeZone"] = "Europe/Berlin";
  cj["status"] = {{"active", {{{"name", "tick-1"}}}}, {"lastScheduleTime", "2026-01-01T00:55:00Z"}};
  row = k.cells(cj, at("2026-01-01T01:00:00Z"));
  EXPECT_EQ(row[2], "Europe/Berlin");
  EXPECT_EQ(row[4], 1);
  EXPECT_EQ(row[5], "5m");
}

TEST(CronJobKind, Validation) {
  const KindSpec& k = spec("batch", "v1", "CronJob");
  for (const char* ok : {"* * * * *", "*/15 9-17 * * MON-FRI", "0 0 1,15 * ?", "@hourly", "@daily",
                         "@midnight", "@weekly", "@monthly", "@yearly", "@annually", "5/10 * * jan,DEC sun"})
    EXPECT_EQ(check(k, cronJob(ok)), Lines{}) << ok;
  EXPECT_EQ(check(k, cronJob("* * *")),
            Lines{"spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [* * *]"});
  EXPECT_EQ(check(k, cronJob("61 * * * *")),
            Lines{"spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"});
  EXPECT_EQ(check(k, cronJob("@every 5m")),
            Lines{"spec.schedule: Invalid value: \"@every 5m\": unrecognized descriptor: @every 5m"});
  EXPECT_EQ(check(k, cronJob("TZ=UTC * * * * *")),
            Lines{"spec.schedule: Invalid value: \"TZ=UTC * * * * *\": cannot use TZ or CRON_TZ in "
                  "schedule, use timeZone field instead"});
  json tz = cronJob("0 * * * *");
  tz["spec"]["timeZone"] = "Mars/Olympus";
  EXPECT_EQ(check(k, tz), Lines{"spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"});
  tz["spec"]["timeZone"] = "America/New_York";
  EXPECT_EQ(check(k, tz), Lines{});
  tz["spec"]["timeZone"] = "Local";
  EXPECT_EQ(check(k, tz), Lines{"spec.timeZone: Invalid value: \"Local\": timeZone must be an explicit "
                                "time zone as defined in https://www.iana.org/time-zones"});
  json policy = cronJob("0 * * * *");
  policy["spec"]["concurrencyPolicy"] = "Sometimes";
  policy["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always";
  EXPECT_EQ(check(k, policy),
            (Lines{"spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: "
                   "\"Allow\", \"Forbid\", \"Replace\"",
                   "spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: \"Always\": "
                   "supported values: \"OnFailure\", \"Never\""}));
  json longName = cronJob("0 * * * *");
  longName["metadata"]["name"] = std::string(53, 'a');
  EXPECT_EQ(check(k, longName).size(), 1u);
}

}  // namespace
}  // namespace berth::apiserver
