#include "controllers/cronjob_controller.h"

#include <gtest/gtest.h>

#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

const client::Resource& cronJobs() {
  static const client::Resource r{"batch", "v1", "cronjobs", "CronJob", true, {"get", "list", "watch"}};
  return r;
}

TimePoint at(const char* s) {
  TimePoint t;
  EXPECT_TRUE(parseRfc3339(s, &t)) << s;
  return t;
}

json cronJobObj(const std::string& schedule, const std::string& policy = "Allow") {
  return {{"apiVersion", "batch/v1"},
          {"kind", "CronJob"},
          {"metadata", {{"name", "tick"}, {"namespace", "ns"}, {"uid", "cj-uid"},
                        {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec",
           {{"schedule", schedule},
            {"concurrencyPolicy", policy},
            {"suspend", false},
            {"successfulJobsHistoryLimit", 3},
            {"failedJobsHistoryLimit", 1},
            {"jobTemplate",
             {{"metadata", {{"labels", {{"team", "a"}}}}},
              {"spec", {{"template", {{"spec", {{"restartPolicy", "OnFailure"},
                                                {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}}}}}};
}

// A child Job; `condition` "" (running), "Complete" or "Failed".
json jobObj(const std::string& name, const std::string& condition = "",
            const std::string& start = "2026-01-01T00:00:00Z") {
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
                            {"ownerReferences", {{{"apiVersion", "batch/v1"}, {"kind", "CronJob"},
                                                  {"name", "tick"}, {"uid", "cj-uid"}, {"controller", true}}}}}},
              {"status", {{"startTime", start}}}};
  if (!condition.empty()) {
    job["status"]["conditions"] = {{{"type", condition}, {"status", "True"}}};
    if (condition == "Complete") job["status"]["completionTime"] = start;
  }
  return job;
}

class CronJobTest : public WorkloadFixture<CronJobController> {
 protected:
  ReconcileResult reconcile(const json& cj, const std::vector<json>& jobs, const char* now) {
    clock_.now_ = at(now);
    fake_.put(cronJobs(), cj);
    for (const auto& j : jobs) fake_.put(res::jobs(), j);
    start([&](client::Client* c, client::InformerFactory* f) {
      CronJobController::Config cfg;
      cfg.clock = &clock_;
      return std::make_unique<CronJobController>(c, f, cfg);
    });
    return ctl_->reconcile("ns/tick");
  }
  std::vector<std::string> created() {
    std::vector<std::string> out;
    for (const auto& a : actions("create", "batch/v1/jobs")) out.push_back(a.body["metadata"]["name"]);
    return out;
  }
  std::vector<std::string> deleted() {
    std::vector<std::string> out;
    for (const auto& a : actions("delete", "batch/v1/jobs")) out.push_back(a.key);
    return out;
  }
  json status() {
    auto st = actions("update/status");
    return st.empty() ? json() : st.back().body["status"];
  }
};

TEST(CronJobSchedule, MostRecentAndMissed) {
  auto every5 = CronSchedule::parse("*/5 * * * *");
  ASSERT_TRUE(every5.isOk());
  auto due = CronJobController::mostRecentSchedule(*every5, TimeZone(), at("2026-01-01T00:00:00Z"),
                                                   at("2026-01-01T00:17:00Z"));
  ASSERT_TRUE(due.at.has_value());
  EXPECT_EQ(formatRfc3339(*due.at), "2026-01-01T00:15:00Z");
  EXPECT_EQ(due.missed, 2);  // 00:05 and 00:10
  due = CronJobController::mostRecentSchedule(*every5, TimeZone(), at("2026-01-01T00:15:00Z"),
                                              at("2026-01-01T00:19:59Z"));
  EXPECT_FALSE(due.at.has_value());
  EXPECT_EQ(CronJobController::jobName("tick", at("2026-01-01T00:15:00Z")), "tick-29453775");
}

TEST_F(CronJobTest, CreatesTheJobForTheScheduledTime) {
  auto r = reconcile(cronJobObj("*/5 * * * *"), {}, "2026-01-01T00:07:30Z");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  ASSERT_EQ(created(), std::vector<std::string>{"tick-29453765"});  // 00:05
  json job = actions("create", "batch/v1/jobs")[0].body;
  EXPECT_EQ(job["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(job["metadata"]["annotations"][kCronJobScheduledTimestampAnnotation], "2026-01-01T00:05:00Z");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
  EXPECT_EQ(job["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(job["spec"]["template"]["spec"]["restartPolicy"], "OnFailure");
  EXPECT_EQ(status()["lastScheduleTime"], "2026-01-01T00:05:00Z");
  // Next look at 00:10.
  EXPECT_EQ(r.requeue_after, std::chrono::milliseconds(150000 + 100));
}

TEST_F(CronJobTest, NothingBeforeTheFirstScheduledTime) {
  auto r = reconcile(cronJobObj("0 * * * *"), {}, "2026-01-01T00:30:00Z");
  EXPECT_TRUE(created().empty());
  EXPECT_EQ(r.requeue_after, std::chrono::milliseconds(30 * 60000 + 100));
}

TEST_F(CronJobTest, TimeZoneShiftsTheSchedule) {
  json cj = cronJobObj("0 9 * * *");
  cj["spec"]["timeZone"] = "Europe/Berlin";  // 09:00 CET = 08:00 UTC
  reconcile(cj, {}, "2026-01-01T08:00:30Z");
  ASSERT_EQ(created().size(), 1u);
  EXPECT_EQ(actions("create", "batch/v1/jobs")[0].body["metadata"]["annotations"][kCronJobScheduledTimestampAnnotation],
            "2026-01-01T09:00:00+01:00");
}

TEST_F(CronJobTest, AlreadyCreatedJobIsNotCreatedAgain) {
  json cj = cronJobObj("*/5 * * * *");
  reconcile(cj, {jobObj("tick-29453765")}, "2026-01-01T00:07:30Z");
  EXPECT_TRUE(created().empty());
  EXPECT_EQ(status()["active"][0]["name"], "tick-29453765");
}

TEST_F(CronJobTest, ForbidSkipsWhileAJobRuns) {
  json cj = cronJobObj("*/5 * * * *", "Forbid");
  cj["status"] = {{"lastScheduleTime", "2026-01-01T00:05:00Z"}};
  reconcile(cj, {jobObj("tick-29453765")}, "2026-01-01T00:10:30Z");
  EXPECT_TRUE(created().empty());
  EXPECT_TRUE(deleted().empty());
}

TEST_F(CronJobTest, AllowRunsAlongside) {
  json cj = cronJobObj("*/5 * * * *", "Allow");
  cj["status"] = {{"lastScheduleTime", "2026-01-01T00:05:00Z"}};
  reconcile(cj, {jobObj("tick-29453765")}, "2026-01-01T00:10:30Z");
  EXPECT_EQ(created(), std::vector<std::string>{"tick-29453770"});
  EXPECT_TRUE(deleted().empty());
  EXPECT_EQ(status()["active"].size(), 1u);  // the new job joins once the cache sees it
}

TEST_F(CronJobTest, ReplaceDeletesTheRunningJobFirst) {
  json cj = cronJobObj("*/5 * * * *", "Replace");
  cj["status"] = {{"lastScheduleTime", "2026-01-01T00:05:00Z"}};
  reconcile(cj, {jobObj("tick-29453765")}, "2026-01-01T00:10:30Z");
  EXPECT_EQ(deleted(), std::vector<std::string>{"ns/tick-29453765"});
  EXPECT_EQ(actions("delete", "batch/v1/jobs")[0].body["propagationPolicy"], "Background");
  EXPECT_EQ(created(), std::vector<std::string>{"tick-29453770"});
}

TEST_F(CronJobTest, SuspendCreatesNothing) {
  json cj = cronJobObj("*/5 * * * *");
  cj["spec"]["suspend"] = true;
  reconcile(cj, {}, "2026-01-01T00:07:30Z");
  EXPECT_TRUE(created().empty());
}

TEST_F(CronJobTest, StartingDeadlineSkipsTimesTooLongAgo) {
  json cj = cronJobObj("0 * * * *");
  cj["spec"]["startingDeadlineSeconds"] = 60;
  reconcile(cj, {}, "2026-01-01T01:05:00Z");  // 01:00 was five minutes ago
  EXPECT_TRUE(created().empty());
}

TEST_F(CronJobTest, StartingDeadlineStillAllowsARecentTime) {
  json cj = cronJobObj("0 * * * *");
  cj["spec"]["startingDeadlineSeconds"] = 600;
  reconcile(cj, {}, "2026-01-01T01:05:00Z");
  EXPECT_EQ(created(), std::vector<std::string>{"tick-29453820"});
}

TEST_F(CronJobTest, HistoryLimitsDeleteTheOldestFinishedJobs) {
  json cj = cronJobObj("0 0 1 1 *");
  cj["spec"]["successfulJobsHistoryLimit"] = 1;
  cj["spec"]["failedJobsHistoryLimit"] = 1;
  cj["status"] = {{"lastScheduleTime", "2026-01-01T00:00:00Z"}};
  reconcile(cj,
            {jobObj("tick-1", "Complete", "2026-01-01T00:01:00Z"),
             jobObj("tick-2", "Complete", "2026-01-01T00:02:00Z"),
             jobObj("tick-3", "Failed", "2026-01-01T00:03:00Z"),
             jobObj("tick-4", "Failed", "2026-01-01T00:04:00Z"), jobObj("tick-5")},
            "2026-01-01T00:10:00Z");
  EXPECT_EQ(deleted(), (std::vector<std::string>{"ns/tick-1", "ns/tick-3"}));
  EXPECT_EQ(status()["lastSuccessfulTime"], "2026-01-01T00:02:00Z");
  ASSERT_EQ(status()["active"].size(), 1u);
  EXPECT_EQ(status()["active"][0]["name"], "tick-5");
}

}  // namespace
}  // namespace berth::controllers
