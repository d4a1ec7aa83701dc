#include "kubelet-lite/simulated_completion.h"

#include <gtest/gtest.h>

namespace berth::kubelet {
namespace {

using json = nlohmann::json;

json pod(json annotations, const char* policy = "Never", bool job = false) {
  json p = {{"metadata", {{"name", "p"}, {"uid", "u1"}}},
            {"spec", {{"restartPolicy", policy}, {"containers", json::array({{{"name", "c"}, {"image", "i"}}})}}},
            {"status", {{"phase", "Running"}, {"startTime", "2026-11-28T10:00:00Z"}}}};
  if (!annotations.is_null()) p["metadata"]["annotations"] = annotations;
  if (job)
    p["metadata"]["ownerReferences"] = json::array({{{"kind", "Job"}, {"name", "j"}, {"controller", true}}});
  return p;
}

TEST(SimulatedEndTest, OnlyJobPodsAndAnnotatedPodsEnd) {
  auto plain = simulatedEnd(pod(nullptr, "Always"));
  ASSERT_TRUE(plain.isOk());
  EXPECT_FALSE(plain->has_value());
  auto job = simulatedEnd(pod(nullptr, "OnFailure", true));
  ASSERT_TRUE(job.isOk() && job->has_value());
  EXPECT_EQ((*job)->exit_code, 0);
  EXPECT_EQ((*job)->after.count(), 0);
  EXPECT_TRUE((*job)->final());
  // A Job owner that is not the controller does not count.
  json p = pod(nullptr, "Never");
  p["metadata"]["ownerReferences"] = json::array({{{"kind", "Job"}, {"name", "j"}}});
  EXPECT_FALSE(simulatedEnd(p)->has_value());
}

TEST(SimulatedEndTest, AnnotationsGiveExitCodeAndDuration) {
  auto e = simulatedEnd(pod({{kSimulatedExitCodeAnnotation, "3"}, {kSimulatedDurationAnnotation, "1m30s"}}));
  ASSERT_TRUE(e.isOk() && e->has_value());
  EXPECT_EQ((*e)->exit_code, 3);
  EXPECT_EQ((*e)->after, std::chrono::seconds(90));
  EXPECT_TRUE((*e)->final()) << "Never ends on any exit";
  auto always = simulatedEnd(pod({{kSimulatedExitCodeAnnotation, "0"}}, "Always"));
  EXPECT_FALSE((*always)->final()) << "Always restarts even after exit 0";
  auto on_failure = simulatedEnd(pod({{kSimulatedExitCodeAnnotation, "2"}}, "OnFailure"));
  EXPECT_FALSE((*on_failure)->final());
  EXPECT_TRUE((*simulatedEnd(pod({{kSimulatedExitCodeAnnotation, "0"}}, "OnFailure")))->final());
}

TEST(SimulatedEndTest, BadAnnotationsNameTheAnnotation) {
  for (const char* bad : {"x", "256", "-1", "1.5", ""}) {
    auto e = simulatedEnd(pod({{kSimulatedExitCodeAnnotation, bad}}));
    ASSERT_FALSE(e.isOk()) << bad;
    EXPECT_NE(e.status().message().find("berth.dev/simulated-exit-code"), std::string::npos);
  }
  auto d = simulatedEnd(pod({{kSimulatedDurationAnnotation, "soon"}}));
  ASSERT_FALSE(d.isOk());
  EXPECT_NE(d.status().message().find("berth.dev/simulated-duration"), std::string::npos);
}

TEST(SimulatedStatusTest, FinishedAndRestartedStatuses) {
  TimePoint now;
  ASSERT_TRUE(parseRfc3339("2026-11-28T10:00:05Z", &now));
  json done = simulatedFinishedStatus(pod(nullptr), 0, now);
  EXPECT_EQ(done["phase"], "Succeeded");
  const json& t = done["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(t["reason"], "Completed");
  EXPECT_EQ(t["startedAt"], "2026-11-28T10:00:00Z");
  EXPECT_EQ(t["finishedAt"], "2026-11-28T10:00:05Z");
  for (const auto& c : done["conditions"])
    if (c["type"] == "Ready") EXPECT_EQ(c["reason"], "PodCompleted");
  EXPECT_EQ(simulatedFinishedStatus(pod(nullptr), 2, now)["phase"], "Failed");

  RestartedContainers rc{1, 2, now - std::chrono::seconds(3), now - std::chrono::seconds(1), true,
                         std::chrono::seconds(20)};
  json p = pod(nullptr);
  p["metadata"]["namespace"] = "ns";
  json waiting = simulatedRestartedStatuses(p, rc, now)[0];
  EXPECT_EQ(waiting["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_EQ(waiting["state"]["waiting"]["message"], "back-off 20s restarting failed container=c pod=p_ns(u1)");
  EXPECT_EQ(waiting["restartCount"], 2);
  EXPECT_EQ(waiting["ready"], false);
  EXPECT_EQ(waiting["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(waiting["lastState"]["terminated"]["startedAt"], "2026-11-28T10:00:02Z");
  rc.waiting = false;
  json running = simulatedRestartedStatuses(pod(nullptr), rc, now)[0];
  EXPECT_EQ(running["state"]["running"]["startedAt"], "2026-11-28T10:00:05Z");
  EXPECT_EQ(running["ready"], true);
}

}  // namespace
}  // namespace berth::kubelet
