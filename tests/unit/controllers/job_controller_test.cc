#include "controllers/job_controller.h"

#include <gtest/gtest.h>

#include <set>

#include "client/event_recorder.h"
#include "controllers/workload_util.h"
#include "tests/unit/controllers/workload_fixture.h"

namespace berth::controllers {
namespace {

using testing::WorkloadFixture;

json jobObj(json completions = 3, int parallelism = 2, int backoff_limit = 6,
            const std::string& restart = "Never") {
  json j = {{"apiVersion", "batch/v1"},
            {"kind", "Job"},
            {"metadata", {{"name", "pi"}, {"namespace", "ns"}, {"uid", "job-uid"}, {"resourceVersion", "8"}}},
            {"spec",
             {{"parallelism", parallelism},
              {"backoffLimit", backoff_limit},
              {"selector", {{"matchLabels", {{"batch.kubernetes.io/controller-uid", "job-uid"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"batch.kubernetes.io/controller-uid", "job-uid"}, {"app", "pi"}}}}},
                {"spec", {{"restartPolicy", restart}, {"containers", {{{"name", "c"}, {"image", "perl"}}}}}}}}}}};
  if (!completions.is_null()) j["spec"]["completions"] = completions;
  return j;
}

json podObj(const std::string& name, const std::string& phase, bool ready = false, int restarts = 0) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"},
            {"creationTimestamp", "2026-01-01T00:00:00Z"},
            {"ownerReferences", {{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "pi"},
                                  {"uid", "job-uid"}, {"controller", true}}}}}},
          {"spec", {{"containers", json::array()}}},
          {"status", {{"phase", phase},
                      {"containerStatuses", {{{"name", "c"}, {"restartCount", restarts}}}},
                      {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

const json* condition(const json& status, const std::string& type) {
  if (!status.contains("conditions")) return nullptr;
  for (const auto& c : status["conditions"])
    if (c["type"] == type) return &c;
  return nullptr;
}

class JobTest : public WorkloadFixture<JobController> {
 protected:
  void startController(client::EventRecorder* recorder = nullptr) {
    start([&](client::Client* c, client::InformerFactory* f) {
      JobController::Config cfg;
      cfg.clock = &clock_;
      cfg.recorder = recorder;
      return std::make_unique<JobController>(c, f, cfg);
    });
  }
  json lastStatus() {
    auto st = actions("update/status");
    EXPECT_FALSE(st.empty());
    return st.empty() ? json::object() : st.back().body["status"];
  }
};

TEST_F(JobTest, StartsParallelismPodsLabelledAndOwned) {
  fake_.put(res::jobs(), jobObj(3, 2));
  startController();
  auto r = ctl_->reconcile("ns/pi");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 2u);
  const json& pod = creates[0].body;
  EXPECT_EQ(pod["metadata"]["generateName"], "pi-");
  EXPECT_EQ(pod["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi");
  EXPECT_EQ(pod["metadata"]["labels"]["batch.kubernetes.io/controller-uid"], "job-uid");
  EXPECT_EQ(pod["metadata"]["labels"]["app"], "pi");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "Job");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["apiVersion"], "batch/v1");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["controller"], true);
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
  json st = lastStatus();
  EXPECT_EQ(st["startTime"], "2026-01-01T00:10:00Z");
  EXPECT_EQ(st["active"], 0);
  EXPECT_EQ(st["uncountedTerminatedPods"], json::object());
  // Not observed yet: no more pods.
  fake_.clearActions();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_TRUE(actions("create").empty());
}

TEST_F(JobTest, NeverRunsMoreThanTheRemainingCompletions) {
  fake_.put(res::jobs(), jobObj(3, 2));
  fake_.put(podsResource(), podObj("a", "Succeeded"));
  fake_.put(podsResource(), podObj("b", "Succeeded"));
  fake_.put(podsResource(), podObj("c", "Running", true));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_TRUE(actions("create").empty());
  EXPECT_TRUE(actions("delete").empty());
  json st = lastStatus();
  EXPECT_EQ(st["succeeded"], 2);
  EXPECT_EQ(st["active"], 1);
  EXPECT_EQ(st["ready"], 1);
  EXPECT_EQ(condition(st, "Complete"), nullptr);
}

TEST_F(JobTest, CompletesWhenCompletionsSucceeded) {
  fake_.put(res::jobs(), jobObj(3, 2));
  for (const char* n : {"a", "b", "c"}) fake_.put(podsResource(), podObj(n, "Succeeded"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_TRUE(actions("create").empty());
  json st = lastStatus();
  EXPECT_EQ(st["succeeded"], 3);
  EXPECT_EQ(st["active"], 0);
  EXPECT_EQ(st["completionTime"], "2026-01-01T00:10:00Z");
  const json* c = condition(st, "Complete");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["status"], "True");
  EXPECT_EQ(condition(st, "Failed"), nullptr);
}

TEST_F(JobTest, WithoutCompletionsOneSuccessEndsItOnceNothingRuns) {
  fake_.put(res::jobs(), jobObj(nullptr, 2));
  fake_.put(podsResource(), podObj("a", "Succeeded"));
  fake_.put(podsResource(), podObj("b", "Running"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_TRUE(actions("create").empty());  // a success: no new pods
  json st = lastStatus();
  EXPECT_EQ(condition(st, "Complete"), nullptr);  // b still runs
}

TEST_F(JobTest, BackoffLimitExceededFailsAndStopsActivePods) {
  fake_.put(res::jobs(), jobObj(3, 2, /*backoff_limit=*/1));
  fake_.put(podsResource(), podObj("a", "Failed"));
  fake_.put(podsResource(), podObj("b", "Failed"));
  fake_.put(podsResource(), podObj("c", "Running"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].key, "ns/c");
  EXPECT_TRUE(actions("create").empty());
  json st = lastStatus();
  EXPECT_EQ(st["failed"], 2);
  const json* c = condition(st, "Failed");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(condition(st, "Complete"), nullptr);
}

TEST_F(JobTest, OneFailureWithinTheLimitIsReplaced) {
  fake_.put(res::jobs(), jobObj(1, 1, /*backoff_limit=*/1));
  fake_.put(podsResource(), podObj("a", "Failed"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(actions("create").size(), 1u);
  json st = lastStatus();
  EXPECT_EQ(condition(st, "Failed"), nullptr);
}

TEST_F(JobTest, ContainerRestartsCountUnderOnFailure) {
  fake_.put(res::jobs(), jobObj(1, 1, /*backoff_limit=*/2, "OnFailure"));
  fake_.put(podsResource(), podObj("a", "Running", false, /*restarts=*/3));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  json st = lastStatus();
  const json* c = condition(st, "Failed");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["reason"], "BackoffLimitExceeded");
}

TEST_F(JobTest, ActiveDeadlineExceededFailsAndRequeuesBeforeIt) {
  json job = jobObj(1, 1);
  job["spec"]["activeDeadlineSeconds"] = 30;
  job["status"] = {{"startTime", "2026-01-01T00:09:50Z"}};
  fake_.put(res::jobs(), job);
  fake_.put(podsResource(), podObj("a", "Running"));
  startController();
  auto r = ctl_->reconcile("ns/pi");
  ASSERT_TRUE(r.error.isOk());
  EXPECT_GE(r.requeue_after.count(), 20000);
  EXPECT_LE(r.requeue_after.count(), 21000);
  EXPECT_TRUE(actions("delete").empty());

  fake_.clearActions();
  clock_.now_ += std::chrono::seconds(21);
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(actions("delete").size(), 1u);
  json st = lastStatus();
  const json* c = condition(st, "Failed");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["reason"], "DeadlineExceeded");
}

TEST_F(JobTest, CountsNeverGoBelowWhatStatusRecorded) {
  // A restart of the controller after a user deleted a failed pod recounts no lower.
  json job = jobObj(1, 1, /*backoff_limit=*/1);
  job["status"] = {{"failed", 1}, {"startTime", "2026-01-01T00:00:00Z"}};
  fake_.put(res::jobs(), job);
  fake_.put(podsResource(), podObj("b", "Running"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(lastStatus()["failed"], 1);
}

TEST_F(JobTest, RecordsEventsAboutItsPodsAndTheOutcome) {
  fake_.put(res::jobs(), jobObj(1, 1));
  client::EventRecorder recorder(&fake_, "job-controller", "");
  auto reasons = [&] {
    recorder.flush();
    std::multiset<std::string> out;
    for (const auto& a : actions("create"))
      if (a.resource == "v1/events") {
        out.insert(a.body["reason"].get<std::string>());
        EXPECT_EQ(a.body["involvedObject"]["kind"], "Job");
        EXPECT_EQ(a.body["source"]["component"], "job-controller");
      }
    return out;
  };
  startController(&recorder);
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(reasons(), (std::multiset<std::string>{"SuccessfulCreate"}));
  ctl_.reset();
  factory_.reset();
  fake_.put(podsResource(), podObj("a", "Succeeded"));
  startController(&recorder);
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(reasons(), (std::multiset<std::string>{"Completed"}));
  recorder.stop();
}

json indexedPod(const std::string& name, int index, const std::string& phase) {
  json p = podObj(name, phase);
  p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] = std::to_string(index);
  return p;
}

TEST_F(JobTest, CompletedIndexesRoundTrip) {
  EXPECT_EQ(formatCompletedIndexes({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(formatCompletedIndexes({}), "");
  EXPECT_EQ(parseCompletedIndexes("0-2,5,7-8", 100), (std::set<int64_t>{0, 1, 2, 5, 7, 8}));
  EXPECT_EQ(parseCompletedIndexes("1,3-9", 5), (std::set<int64_t>{1, 3, 4}));  // beyond completions
  EXPECT_EQ(parseCompletedIndexes("x,2,-,4-", 10), (std::set<int64_t>{2}));    // junk is skipped
}

TEST_F(JobTest, IndexedStartsLowestMissingIndexesWithIndexEnvAndHostname) {
  json job = jobObj(4, 2);
  job["spec"]["completionMode"] = "Indexed";
  fake_.put(res::jobs(), job);
  fake_.put(podsResource(), indexedPod("done0", 0, "Succeeded"));
  fake_.put(podsResource(), indexedPod("run1", 1, "Running"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  auto creates = actions("create");
  ASSERT_EQ(creates.size(), 1u);  // parallelism 2, one running
  const json& pod = creates[0].body;
  EXPECT_EQ(pod["metadata"]["generateName"], "pi-2-");
  EXPECT_EQ(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"], "2");
  EXPECT_EQ(pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"], "2");
  EXPECT_EQ(pod["spec"]["hostname"], "pi-2");
  const json& env = pod["spec"]["containers"][0]["env"];
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0]["name"], "JOB_COMPLETION_INDEX");
  EXPECT_EQ(env[0]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-completion-index']");
  json st = lastStatus();
  EXPECT_EQ(st["completedIndexes"], "0");
  EXPECT_EQ(st["succeeded"], 1);
}

TEST_F(JobTest, IndexedDeletesDuplicatesAndPodsOfFinishedIndexesFirst) {
  json job = jobObj(3, 3);
  job["spec"]["completionMode"] = "Indexed";
  fake_.put(res::jobs(), job);
  fake_.put(podsResource(), indexedPod("done0", 0, "Succeeded"));
  fake_.put(podsResource(), indexedPod("again0", 0, "Running"));
  fake_.put(podsResource(), indexedPod("one", 1, "Running"));
  fake_.put(podsResource(), indexedPod("dup1", 1, "Running"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_TRUE(actions("create").empty());  // surplus goes first
  std::set<std::string> deleted;
  for (const auto& a : actions("delete")) deleted.insert(a.key.substr(a.key.find('/') + 1));
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_TRUE(deleted.count("again0"));
  EXPECT_TRUE(deleted.count("one") || deleted.count("dup1"));
}

TEST_F(JobTest, IndexedCompletesWhenEveryIndexSucceeded) {
  json job = jobObj(3, 3);
  job["spec"]["completionMode"] = "Indexed";
  job["status"]["completedIndexes"] = "0";  // recorded before its pod was deleted
  fake_.put(res::jobs(), job);
  fake_.put(podsResource(), indexedPod("a", 1, "Succeeded"));
  fake_.put(podsResource(), indexedPod("b", 1, "Succeeded"));  // a second success of index 1
  fake_.put(podsResource(), indexedPod("c", 2, "Succeeded"));
  startController();
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  json st = lastStatus();
  EXPECT_EQ(st["completedIndexes"], "0-2");
  EXPECT_EQ(st["succeeded"], 3);
  EXPECT_NE(condition(st, "Complete"), nullptr);
}

TEST_F(JobTest, AFreshFailureDelaysTheReplacementExponentially) {
  fake_.put(res::jobs(), jobObj(1, 1, /*backoff_limit=*/6));
  json a = podObj("a", "Failed"), b = podObj("b", "Failed");
  // Two failures, the latest 5 s ago: the next pod waits 10 s x 2 = 20 s after it.
  a["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = "2026-01-01T00:09:00Z";
  b["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] = "2026-01-01T00:09:55Z";
  fake_.put(podsResource(), a);
  fake_.put(podsResource(), b);
  startController();
  auto r = ctl_->reconcile("ns/pi");
  ASSERT_TRUE(r.error.isOk());
  EXPECT_TRUE(actions("create").empty());
  EXPECT_GE(r.requeue_after.count(), 15000);
  EXPECT_LE(r.requeue_after.count(), 15200);
  clock_.now_ += std::chrono::seconds(16);
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  EXPECT_EQ(actions("create").size(), 1u);
}

TEST_F(JobTest, FinishedJobIsDeletedAfterItsTtl) {
  json job = jobObj(1, 1);
  job["spec"]["ttlSecondsAfterFinished"] = 60;
  job["status"] = {{"completionTime", "2026-01-01T00:09:30Z"},
                   {"conditions", {{{"type", "Complete"}, {"status", "True"}}}}};
  fake_.put(res::jobs(), job);
  startController();
  auto r = ctl_->reconcile("ns/pi");
  ASSERT_TRUE(r.error.isOk());
  EXPECT_TRUE(writes().empty());
  EXPECT_GE(r.requeue_after.count(), 30000);
  clock_.now_ += std::chrono::seconds(31);
  ASSERT_TRUE(ctl_->reconcile("ns/pi").error.isOk());
  auto dels = actions("delete");
  ASSERT_EQ(dels.size(), 1u);
  EXPECT_EQ(dels[0].resource, "batch/v1/jobs");
  EXPECT_EQ(dels[0].body["preconditions"]["uid"], "job-uid");
}

}  // namespace
}  // namespace berth::controllers
