// End-to-end: CronJobs against a real `berth server`, driven by the real kubectl: a job per
// scheduled minute, `kubectl create job --from=cronjob/...`, the table and validation.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <functional>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

const char* kCronJob = R"(apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    metadata: {labels: {app: tick}}
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox, command: [date]}]
)";

class CronJobTest : public ServerTest {
 protected:
  CronJobTest() : ServerTest("cj") {}
};

// The first job the schedule created (not the manual one), or null.
json scheduledJob(const json& list) {
  for (const auto& j : list.value("items", json::array()))
    if (j["metadata"].value("annotations", json::object()).contains("batch.kubernetes.io/cronjob-scheduled-timestamp"))
      return j;
  return nullptr;
}

TEST_F(CronJobTest, EveryMinuteCreatesAJob) {
  ok({"apply", "-f", "-"}, kCronJob);
  json cj = get({"cronjob", "tick"});
  EXPECT_EQ(cj["spec"]["concurrencyPolicy"], "Allow");
  EXPECT_EQ(cj["spec"]["successfulJobsHistoryLimit"], 3);
  EXPECT_EQ(cj["spec"]["failedJobsHistoryLimit"], 1);
  std::string out = ok({"get", "cj"});
  EXPECT_EQ(out.rfind("NAME   SCHEDULE    TIMEZONE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE", 0), 0u) << out;
  // (ACTIVE and LAST SCHEDULE depend on whether a minute has started since the apply.)
  EXPECT_NE(out.find("tick   * * * * *   <none>     False     "), std::string::npos) << out;

  // kubectl create job --from=cronjob reads the CronJob and stamps a Job from its template.
  ok({"create", "job", "manual", "--from=cronjob/tick"});
  json manual = get({"job", "manual"});
  EXPECT_EQ(manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
  EXPECT_EQ(manual["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");

  json jobs;
  ASSERT_TRUE(await("jobs", {"jobs"}, [](const json& l) { return !scheduledJob(l).is_null(); },
                    &jobs, seconds(75)))
      << jobs.dump();
  json job = scheduledJob(jobs);
  std::string ts = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"];
  struct tm tm = {};
  ASSERT_NE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << ts;
  int64_t minutes = static_cast<int64_t>(timegm(&tm)) / 60;
  EXPECT_EQ(job["metadata"]["name"], "tick-" + std::to_string(minutes));
  EXPECT_EQ(job["metadata"]["labels"]["app"], "tick");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["controller"], true);
  json last;
  ASSERT_TRUE(await("cronjobs", {"cronjob", "tick"}, [&](const json& c) {
    return c.value("status", json::object()).value("lastScheduleTime", "") == ts;
  }, &last, seconds(30))) << last.dump();
  bool listed = false;
  for (const auto& a : last["status"].value("active", json::array()))
    listed = listed || a["name"] == job["metadata"]["name"];
  EXPECT_TRUE(listed) << last.dump();

  // Suspended: the column says so.
  ok({"patch", "cj", "tick", "-p", R"({"spec":{"suspend":true}})"});
  out = ok({"get", "cj", "tick", "--no-headers"});
  EXPECT_NE(out.find("True"), std::string::npos) << out;
}

TEST_F(CronJobTest, Validation) {
  std::string bad = kCronJob;
  bad.replace(bad.find("* * * * *"), 9, "61 * * * *");
  auto r = kn({"apply", "-f", "-"}, bad);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61"),
            std::string::npos) << r.err;
  std::string tz = kCronJob;
  tz.replace(tz.find("  jobTemplate:"), 0, "  timeZone: Mars/Olympus\n");
  r = kn({"apply", "-f", "-"}, tz);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus"),
            std::string::npos) << r.err;
  std::string berlin = kCronJob;
  berlin.replace(berlin.find("  jobTemplate:"), 0, "  timeZone: Europe/Berlin\n");
  ok({"apply", "-f", "-"}, berlin);
  EXPECT_NE(ok({"get", "cj", "tick"}).find("Europe/Berlin"), std::string::npos);
}

}  // namespace
}  // namespace berth::e2e
