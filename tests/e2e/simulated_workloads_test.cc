// Workloads that end, on simulated nodes (`berth agent --runtime simulated`, as kwok plays
// them), with the in-process controllers: a Job's pods run to completion and the Job completes;
// pods annotated with a non-zero simulated exit code fail, and the Job stops at its backoffLimit;
// a crashing pod of restartPolicy Always goes through CrashLoopBackOff with a growing restart
// count and the exit in lastState; an unusable annotation leaves the pod running.
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

class SimulatedWorkloadsTest : public ServerTest {
 public:
  static void SetUpTestSuite() {
    ServerTest::SetUpTestSuite();
    if (::testing::Test::HasFatalFailure()) return;
    agent_ = new Child({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime", "simulated",
                        "--nodes", "2", "--zones", "local-1a,local-1b", "--node-name-prefix", "swl-"});
    ASSERT_TRUE(agent_->waitFor("berth agent running", std::chrono::seconds(60))) << "berth agent did not start";
  }
  static void TearDownTestSuite() {
    if (agent_) {
      agent_->kill(SIGTERM);
      agent_->wait();
      delete agent_;
      agent_ = nullptr;
    }
    ServerTest::TearDownTestSuite();
  }

 protected:
  SimulatedWorkloadsTest() : ServerTest("swl") {}
  static Child* agent_;
};

Child* SimulatedWorkloadsTest::agent_ = nullptr;

TEST_F(SimulatedWorkloadsTest, JobPodsRunToCompletion) {
  ok({"wait", "--for=condition=Ready", "node/swl-0", "node/swl-1", "--timeout=60s"});
  ok({"-n", ns_, "create", "job", "once", "--image=busybox", "--", "echo", "hi"});
  ASSERT_EQ(kn({"wait", "--for=condition=complete", "job/once", "--timeout=60s"}).exit_code, 0)
      << ok({"-n", ns_, "get", "pods", "-o", "wide"});
  json pods = list({"pods", "-l", "job-name=once"});
  ASSERT_EQ(pods.size(), 1u);
  const json& st = pods[0]["status"];
  EXPECT_EQ(st.value("phase", ""), "Succeeded");
  const json& term = st["containerStatuses"][0]["state"]["terminated"];
  EXPECT_EQ(term.value("exitCode", -1), 0);
  EXPECT_EQ(term.value("reason", ""), "Completed");
  EXPECT_NE(ok({"-n", ns_, "get", "pods", "-l", "job-name=once", "--no-headers"}).find("Completed"), std::string::npos);
  // Nothing to stream from a simulated node: a clear error, not a dial to its made-up address.
  CmdResult logs = kn({"logs", "job/once"});
  EXPECT_NE(logs.exit_code, 0);
  EXPECT_NE(logs.err.find("is simulated"), std::string::npos) << logs.err;

  // Parallel pods that run for a while: the Job is not complete before they have run.
  ok({"-n", ns_, "apply", "-f", "-"},
     "apiVersion: batch/v1\nkind: Job\nmetadata: {name: three}\nspec:\n  completions: 3\n  parallelism: 3\n"
     "  template:\n    metadata:\n      annotations: {berth.dev/simulated-duration: 8s}\n    spec:\n"
     "      restartPolicy: OnFailure\n      containers: [{name: c, image: busybox}]\n");
  json job;
  ASSERT_TRUE(await("jobs", {"job", "three"}, [](const json& j) {
    return j["status"].value("active", 0) == 3;
  }, &job)) << job.dump();
  EXPECT_EQ(get({"job", "three"})["status"].value("succeeded", 0), 0) << "pods ended before their 8 s";
  EXPECT_EQ(kn({"wait", "--for=condition=complete", "job/three", "--timeout=60s"}).exit_code, 0);
  EXPECT_EQ(get({"job", "three"})["status"].value("succeeded", 0), 3);
}

TEST_F(SimulatedWorkloadsTest, FailingPodsStopAJobAtItsBackoffLimit) {
  ok({"-n", ns_, "apply", "-f", "-"},
     "apiVersion: batch/v1\nkind: Job\nmetadata: {name: failing}\nspec:\n  backoffLimit: 1\n  template:\n"
     "    metadata:\n      annotations: {berth.dev/simulated-exit-code: '3'}\n    spec:\n"
     "      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n");
  ASSERT_EQ(kn({"wait", "--for=condition=failed", "job/failing", "--timeout=90s"}).exit_code, 0);
  json job = get({"job", "failing"});
  bool backoff = false;
  for (const auto& c : job["status"]["conditions"])
    if (c.value("type", "") == "Failed") backoff = c.value("reason", "") == "BackoffLimitExceeded";
  EXPECT_TRUE(backoff) << job["status"].dump();
  json pods = list({"pods", "-l", "job-name=failing"});
  ASSERT_EQ(pods.size(), 2u) << "backoffLimit 1 allows one retry";
  for (const auto& p : pods) {
    EXPECT_EQ(p["status"].value("phase", ""), "Failed");
    EXPECT_EQ(p["status"]["containerStatuses"][0]["state"]["terminated"].value("exitCode", -1), 3);
    EXPECT_EQ(p["status"]["containerStatuses"][0]["state"]["terminated"].value("reason", ""), "Error");
  }
  // The job failing is one event, as upstream, not one per sync that raced the status write.
  json events;
  auto backoffEvents = [](const json& items) {
    int64_t n = 0;
    for (const auto& e : items)
      if (e.value("reason", "") == "BackoffLimitExceeded") n += e.value("count", int64_t{1});
    return n;
  };
  ASSERT_TRUE(await("events", {"events", "--field-selector=involvedObject.name=failing"},
                    [&](const json& e) { return backoffEvents(e["items"]) > 0; }, &events))
      << events.dump();
  EXPECT_EQ(backoffEvents(events["items"]), 1) << events.dump();
}

TEST_F(SimulatedWorkloadsTest, CrashingPodBacksOffAndBadAnnotationsAreIgnored) {
  ok({"-n", ns_, "apply", "-f", "-"},
     "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crashy\n  annotations: {berth.dev/simulated-exit-code: '1',"
     " berth.dev/simulated-duration: 3s}\nspec:\n  nodeName: swl-0\n  containers: [{name: c, image: busybox}]\n"
     "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: odd\n  annotations: {berth.dev/simulated-exit-code: x}\n"
     "spec:\n  nodeName: swl-1\n  restartPolicy: Never\n  containers: [{name: c, image: busybox}]\n");
  json last;
  // As upstream's kubelet: the first restart is at once (never in CrashLoopBackOff before it)...
  ASSERT_TRUE(await("pods", {"pod", "crashy"}, [](const json& p) {
    const json& cs = p["status"]["containerStatuses"];
    return cs.is_array() && !cs.empty() && cs[0].value("restartCount", 0) >= 1;
  }, &last)) << last.dump();
  EXPECT_TRUE(last["status"]["containerStatuses"][0]["state"].contains("running")) << last.dump();
  // ... and the second waits in CrashLoopBackOff, 10 s.
  ASSERT_TRUE(await("pods", {"pod", "crashy"}, [](const json& p) {
    const json& cs = p["status"]["containerStatuses"];
    return cs.is_array() && !cs.empty() && cs[0]["state"].contains("waiting");
  }, &last)) << last.dump();
  const json& c = last["status"]["containerStatuses"][0];
  EXPECT_EQ(c["state"]["waiting"].value("reason", ""), "CrashLoopBackOff");
  EXPECT_EQ(c["state"]["waiting"].value("message", "").rfind("back-off 10s restarting failed container=c pod=crashy_", 0), 0u)
      << c.dump();
  EXPECT_EQ(c.value("restartCount", 0), 1);
  EXPECT_EQ(c["lastState"]["terminated"].value("exitCode", -1), 1);
  EXPECT_FALSE(c.value("ready", true));
  EXPECT_NE(ok({"-n", ns_, "get", "pod", "crashy", "--no-headers"}).find("CrashLoopBackOff"), std::string::npos);
  // After the back-off the container runs again, with the count grown.
  ASSERT_TRUE(await("pods", {"pod", "crashy"}, [](const json& p) {
    const json& cs = p["status"]["containerStatuses"];
    return cs.is_array() && !cs.empty() && cs[0]["state"].contains("running") && cs[0].value("restartCount", 0) >= 2;
  }, &last, std::chrono::seconds(40))) << last.dump();

  ok({"-n", ns_, "wait", "--for=condition=Ready", "pod/odd", "--timeout=60s"});
  EXPECT_EQ(get({"pod", "odd"})["status"].value("phase", ""), "Running");
}

}  // namespace
}  // namespace berth::e2e

namespace berth::e2e {
namespace {

// A second agent (a single named node, as the simulated cloud launches them) beside the
// suite's two nodes: its pod range and InternalIP are its own, so pod IPs stay unique.
TEST_F(SimulatedWorkloadsTest, AnotherAgentsNodeGetsItsOwnPodRange) {
  ok({"wait", "--for=condition=Ready", "node/swl-0", "node/swl-1", "--timeout=60s"});
  Child extra({berthBinary(), "agent", "--kubeconfig", server_->kubeconfig(), "--runtime", "simulated",
               "--nodes", "1", "--node-name", "swl-extra", "--zone", "local-1c", "--delete-nodes-on-exit"});
  ASSERT_TRUE(extra.waitFor("berth agent running", std::chrono::seconds(60)));
  ok({"wait", "--for=condition=Ready", "node/swl-extra", "--timeout=60s"});
  std::set<std::string> cidrs, ips;
  for (const std::string n : {"swl-0", "swl-1", "swl-extra"}) {
    json node = get({"node", n});
    cidrs.insert(node["spec"].value("podCIDR", ""));
    for (const auto& a : node["status"]["addresses"])
      if (a.value("type", "") == "InternalIP") ips.insert(a.value("address", ""));
  }
  EXPECT_EQ(cidrs.size(), 3u) << ok({"get", "nodes", "-o", "custom-columns=N:.metadata.name,C:.spec.podCIDR"});
  EXPECT_EQ(ips.size(), 3u) << ok({"get", "nodes", "-o", "wide"});

  std::string pods;
  for (const std::string n : {"swl-0", "swl-extra"})
    pods += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: ip-" + n + "}\nspec:\n  nodeName: " + n +
            "\n  containers: [{name: c, image: busybox}]\n";
  ok({"-n", ns_, "apply", "-f", "-"}, pods);
  ok({"-n", ns_, "wait", "--for=condition=Ready", "pod/ip-swl-0", "pod/ip-swl-extra", "--timeout=60s"});
  EXPECT_NE(get({"pod", "ip-swl-0"})["status"].value("podIP", "a"),
            get({"pod", "ip-swl-extra"})["status"].value("podIP", "b"));
  ok({"-n", ns_, "delete", "pod", "ip-swl-0", "ip-swl-extra", "--grace-period=0", "--force"});
  extra.kill(SIGTERM);
  extra.wait();
}

}  // namespace
}  // namespace berth::e2e
