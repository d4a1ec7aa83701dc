// PodWorker against FakeRuntime and a fake clock: status as upstream, restart policies,
// back-off, init container order, adoption, graceful deletion, env and image errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "kubelet-lite/pod_worker.h"
#include "tests/unit/kubelet/fake_runtime.h"

namespace berth::kubelet {
namespace {

using testing::FakeClock;
using testing::FakeRuntime;

class PodWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("berth-podworker-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    PodWorker::Options o;
    o.root_dir = root_.string();
    o.node_name = "n1";
    o.host_ip = "192.168.0.10";
    o.event = [this](const PodRef&, const std::string& field_path, bool warning,
                     const std::string& reason, const std::string& message) {
      events_.push_back((warning ? "W " : "N ") + field_path + " " + reason + ": " + message);
    };
    worker_ = std::make_unique<PodWorker>(
        &rt_, &clock_,
        PodConfigResolver([this](const std::string& kind, const std::string& ns,
                                 const std::string& name) -> Result<json> {
          auto it = objects_.find(kind + "/" + ns + "/" + name);
          if (it == objects_.end()) return notFound(name);
          return it->second;
        }),
        o);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  json pod(const std::string& policy = "Always") {
    return json::parse(R"({"metadata":{"name":"p","namespace":"ns","uid":"u1"},
      "spec":{"nodeName":"n1","restartPolicy":")" + policy + R"(",
        "containers":[{"name":"app","image":"busybox:1","command":["sh","-c","sleep 1000"]}]}})");
  }
  // Syncs and stores the reported status into `p` as the API would.
  PodWorker::Outcome sync(json& p) {
    auto r = worker_->sync(p);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    if (!r.isOk()) return {};
    if (!r->status.is_null()) p["status"] = r->status;
    return std::move(r).value();
  }
  static const json& cs(const json& p, size_t i = 0) { return p["status"]["containerStatuses"][i]; }
  static std::string condition(const json& p, const std::string& type) {
    for (const auto& c : p["status"]["conditions"])
      if (c["type"] == type) return c["status"];
    return "";
  }

  std::filesystem::path root_;
  FakeClock clock_;
  FakeRuntime rt_{&clock_};
  std::map<std::string, json> objects_;
  std::unique_ptr<PodWorker> worker_;
  std::vector<std::string> events_;  // "N|W <fieldPath> <reason>: <message>"
};

TEST_F(PodWorkerTest, StartsContainersAndReportsRunningReady) {
  json p = pod();
  sync(p);
  EXPECT_EQ(rt_.created(), std::vector<std::string>{"app"});
  EXPECT_EQ(p["status"]["phase"], "Running");
  EXPECT_EQ(condition(p, "Ready"), "True");
  EXPECT_EQ(condition(p, "ContainersReady"), "True");
  EXPECT_EQ(condition(p, "Initialized"), "True");
  EXPECT_EQ(condition(p, "PodScheduled"), "True");
  EXPECT_TRUE(cs(p).at("state").contains("running"));
  EXPECT_EQ(cs(p)["restartCount"], 0);
  EXPECT_EQ(cs(p)["ready"], true);
  EXPECT_EQ(cs(p)["imageID"], "sha256:busybox:1");
  EXPECT_EQ(cs(p)["containerID"].get<std::string>().rfind("fake://", 0), 0u);
  EXPECT_EQ(p["status"]["hostIP"], "192.168.0.10");
  EXPECT_FALSE(p["status"]["podIP"].get<std::string>().empty());
  EXPECT_EQ(p["status"]["qosClass"], "BestEffort");
  // The log file path follows the documented layout.
  EXPECT_EQ(rt_.configOf("app").log_path, root_.string() + "/n1/pods/ns_p_u1/app/0.log");
  // A second sync changes nothing.
  sync(p);
  EXPECT_EQ(rt_.created().size(), 1u);
}

TEST_F(PodWorkerTest, AlwaysRestartsWithCrashLoopBackOff) {
  json p = pod("Always");
  sync(p);
  rt_.exitContainer("app", 1);
  sync(p);  // first restart is immediate
  EXPECT_EQ(rt_.created().size(), 2u);
  EXPECT_EQ(cs(p)["restartCount"], 1);
  EXPECT_EQ(cs(p)["lastState"]["terminated"]["exitCode"], 1);
  EXPECT_EQ(cs(p)["lastState"]["terminated"]["reason"], "Error");
  EXPECT_EQ(rt_.configOf("app").log_path, root_.string() + "/n1/pods/ns_p_u1/app/1.log");

  rt_.exitContainer("app", 2);
  auto out = sync(p);  // now it backs off 10 s
  EXPECT_EQ(rt_.created().size(), 2u);
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "CrashLoopBackOff");
  EXPECT_NE(cs(p)["state"]["waiting"]["message"].get<std::string>().find("back-off 10s"), std::string::npos);
  EXPECT_EQ(cs(p)["lastState"]["terminated"]["exitCode"], 2);
  EXPECT_EQ(p["status"]["phase"], "Running");
  EXPECT_EQ(condition(p, "Ready"), "False");
  ASSERT_TRUE(out.requeue_after.has_value());
  EXPECT_EQ(*out.requeue_after, std::chrono::seconds(10));

  clock_.advance(std::chrono::seconds(9));
  sync(p);
  EXPECT_EQ(rt_.created().size(), 2u);
  clock_.advance(std::chrono::seconds(1));
  sync(p);
  EXPECT_EQ(rt_.created().size(), 3u);
  EXPECT_EQ(cs(p)["restartCount"], 2);
  // The next back-off doubles.
  rt_.exitContainer("app", 1);
  sync(p);
  EXPECT_NE(cs(p)["state"]["waiting"]["message"].get<std::string>().find("back-off 20s"), std::string::npos);
  clock_.advance(std::chrono::seconds(19));
  sync(p);
  EXPECT_EQ(rt_.created().size(), 3u);
  clock_.advance(std::chrono::seconds(1));
  sync(p);
  EXPECT_EQ(rt_.created().size(), 4u);
}

TEST_F(PodWorkerTest, NeverReportsSucceededOrFailed) {
  json ok = pod("Never");
  sync(ok);
  rt_.exitContainer("app", 0);
  sync(ok);
  EXPECT_EQ(ok["status"]["phase"], "Succeeded");
  EXPECT_EQ(cs(ok)["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(condition(ok, "Ready"), "False");
  EXPECT_EQ(rt_.created().size(), 1u);

  json bad = pod("Never");
  bad["metadata"]["uid"] = "u2";
  sync(bad);
  rt_.exitContainer("app", 3);
  sync(bad);
  EXPECT_EQ(bad["status"]["phase"], "Failed");
  EXPECT_EQ(cs(bad)["state"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(cs(bad)["state"]["terminated"]["reason"], "Error");
}

TEST_F(PodWorkerTest, OnFailureRestartsOnlyFailures) {
  json p = pod("OnFailure");
  sync(p);
  rt_.exitContainer("app", 1);
  sync(p);
  EXPECT_EQ(rt_.created().size(), 2u);
  rt_.exitContainer("app", 0);
  sync(p);
  EXPECT_EQ(rt_.created().size(), 2u);
  EXPECT_EQ(p["status"]["phase"], "Succeeded");
}

TEST_F(PodWorkerTest, InitContainersRunInOrderFirst) {
  json p = pod();
  p["spec"]["initContainers"] = json::parse(R"([
    {"name":"i1","image":"busybox:1","command":["true"]},
    {"name":"i2","image":"busybox:1","command":["true"]}])");
  sync(p);
  EXPECT_EQ(rt_.created(), std::vector<std::string>{"i1"});
  EXPECT_EQ(p["status"]["phase"], "Pending");
  EXPECT_EQ(condition(p, "Initialized"), "False");
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "PodInitializing");
  EXPECT_EQ(p["status"]["initContainerStatuses"][1]["state"]["waiting"]["reason"], "PodInitializing");
  rt_.exitContainer("i1", 0);
  sync(p);
  EXPECT_EQ(rt_.created(), (std::vector<std::string>{"i1", "i2"}));
  rt_.exitContainer("i2", 0);
  sync(p);
  EXPECT_EQ(rt_.created(), (std::vector<std::string>{"i1", "i2", "app"}));
  EXPECT_EQ(condition(p, "Initialized"), "True");
  EXPECT_EQ(p["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
  EXPECT_EQ(p["status"]["phase"], "Running");
}

TEST_F(PodWorkerTest, FailedInitContainerWithNeverFailsThePod) {
  json p = pod("Never");
  p["spec"]["initContainers"] = json::parse(R"([{"name":"i1","image":"busybox:1","command":["false"]}])");
  sync(p);
  rt_.exitContainer("i1", 1);
  sync(p);
  EXPECT_EQ(p["status"]["phase"], "Failed");
  EXPECT_EQ(rt_.created(), std::vector<std::string>{"i1"});
}

TEST_F(PodWorkerTest, AdoptsRunningContainersInsteadOfStartingDuplicates) {
  ContainerStatus s;
  s.id = "old";
  s.name = "app";
  s.state = ContainerState::kRunning;
  s.started_at = clock_.now();
  s.image_id = "sha256:x";
  s.labels = {{kLabelPodUid, "u1"}, {kLabelContainerName, "app"}, {kLabelRestartCount, "3"}};
  rt_.adopt(s);
  json p = pod();
  sync(p);
  EXPECT_TRUE(rt_.created().empty());
  EXPECT_EQ(cs(p)["restartCount"], 3);
  EXPECT_EQ(cs(p)["containerID"], "fake://old");
}

TEST_F(PodWorkerTest, GracefulDeletionStopsWithTheGracePeriodAndRunsPreStop) {
  json p = pod();
  p["spec"]["containers"][0]["lifecycle"] = json::parse(R"({"preStop":{"exec":{"command":["sh","-c","echo bye"]}}})");
  sync(p);
  p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  p["metadata"]["deletionGracePeriodSeconds"] = 7;
  auto out = sync(p);
  EXPECT_TRUE(out.delete_pod);
  ASSERT_EQ(rt_.stops().size(), 1u);
  EXPECT_EQ(rt_.stops()[0].second, std::chrono::seconds(7));
  EXPECT_EQ(rt_.execs().size(), 1u);
  EXPECT_TRUE(rt_.listContainers()->empty());
  EXPECT_TRUE(rt_.listSandboxes()->empty());
}

TEST_F(PodWorkerTest, EnvironmentFromValuesRefsAndFields) {
  objects_["configmaps/ns/cfg"] = json::parse(R"({"data":{"mode":"fast"}})");
  objects_["secrets/ns/sec"] = json::parse(R"({"data":{"token":"czNjcjN0"}})");  // "s3cr3t"
  json p = pod();
  p["spec"]["containers"][0]["resources"] = json::parse(R"({"limits":{"memory":"64Mi"}})");
  p["spec"]["containers"][0]["env"] = json::parse(R"js([
    {"name":"A","value":"a"},
    {"name":"B","value":"$(A)-b $$(A)"},
    {"name":"MODE","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"mode"}}},
    {"name":"TOKEN","valueFrom":{"secretKeyRef":{"name":"sec","key":"token"}}},
    {"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
    {"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},
    {"name":"MEM","valueFrom":{"resourceFieldRef":{"resource":"limits.memory","divisor":"1Mi"}}},
    {"name":"OPT","valueFrom":{"configMapKeyRef":{"name":"nope","key":"x","optional":true}}}])js");
  p["spec"]["containers"][0]["args"] = json::array({"$(MODE)"});
  sync(p);
  auto env = rt_.configOf("app").env;
  std::map<std::string, std::string> m(env.begin(), env.end());
  EXPECT_EQ(m["B"], "a-b $(A)");
  EXPECT_EQ(m["MODE"], "fast");
  EXPECT_EQ(m["TOKEN"], "s3cr3t");
  EXPECT_EQ(m["POD"], "p");
  EXPECT_EQ(m["NODE"], "n1");
  EXPECT_EQ(m["MEM"], "64");
  EXPECT_FALSE(m.count("OPT"));
  EXPECT_EQ(rt_.configOf("app").args, std::vector<std::string>{"fast"});
  EXPECT_EQ(rt_.configOf("app").memory_limit_bytes, 64 << 20);
}

TEST_F(PodWorkerTest, MissingConfigMapIsCreateContainerConfigError) {
  json p = pod();
  p["spec"]["containers"][0]["env"] = json::parse(
      R"([{"name":"X","valueFrom":{"configMapKeyRef":{"name":"absent","key":"k"}}}])");
  sync(p);
  EXPECT_TRUE(rt_.created().empty());
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "CreateContainerConfigError");
  EXPECT_EQ(cs(p)["state"]["waiting"]["message"], "configmap \"absent\" not found");
  EXPECT_EQ(p["status"]["phase"], "Pending");
}

TEST_F(PodWorkerTest, VolumesAreWrittenAndMounted) {
  objects_["configmaps/ns/cfg"] = json::parse(R"({"data":{"a.conf":"x=1"}})");
  json p = pod();
  p["spec"]["volumes"] = json::parse(R"([{"name":"c","configMap":{"name":"cfg"}},{"name":"e","emptyDir":{}},
    {"name":"h","hostPath":{"path":"/tmp"}}])");
  p["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([{"name":"c","mountPath":"/etc/c","readOnly":true},
    {"name":"e","mountPath":"/data"},{"name":"h","mountPath":"/host"}])");
  sync(p);
  auto mounts = rt_.configOf("app").mounts;
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].container_path, "/etc/c");
  EXPECT_TRUE(mounts[0].read_only);
  EXPECT_TRUE(std::filesystem::exists(mounts[0].host_path + "/a.conf"));
  EXPECT_TRUE(std::filesystem::is_directory(mounts[1].host_path));
  EXPECT_EQ(mounts[2].host_path, "/tmp");
}

TEST_F(PodWorkerTest, ImagePullFailureThenBackOff) {
  json p = pod();
  p["spec"]["containers"][0]["image"] = "missing:1";
  sync(p);
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "ErrImagePull");
  EXPECT_NE(cs(p)["state"]["waiting"]["message"].get<std::string>().find("manifest unknown"), std::string::npos);
  int pulls = rt_.pulls();
  sync(p);
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "ImagePullBackOff");
  EXPECT_EQ(rt_.pulls(), pulls) << "no pull while backing off";
  clock_.advance(std::chrono::seconds(11));
  sync(p);
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "ErrImagePull");
}

TEST_F(PodWorkerTest, RecordsPullCreateStartEventsInOrder) {
  json p = pod();
  sync(p);
  EXPECT_EQ(events_, (std::vector<std::string>{
                         "N spec.containers{app} Pulling: Pulling image \"busybox:1\"",
                         "N spec.containers{app} Pulled: Successfully pulled image \"busybox:1\" in 0s "
                         "(0s including waiting)",
                         "N spec.containers{app} Created: Created container: app",
                         "N spec.containers{app} Started: Started container app"}));
  events_.clear();
  sync(p);
  EXPECT_TRUE(events_.empty()) << "a sync that changes nothing records nothing";
  // The image is on the node now: the next container does not pull it.
  rt_.exitContainer("app", 0);
  sync(p);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(events_[0], "N spec.containers{app} Pulled: Container image \"busybox:1\" already present on machine");
  EXPECT_EQ(rt_.pulls(), 1);
}

TEST_F(PodWorkerTest, RecordsPullFailureAndBackOffEvents) {
  json p = pod();
  p["spec"]["containers"][0]["image"] = "missing:1";
  sync(p);
  EXPECT_EQ(events_, (std::vector<std::string>{
                         "N spec.containers{app} Pulling: Pulling image \"missing:1\"",
                         "W spec.containers{app} Failed: Failed to pull image \"missing:1\": manifest "
                         "unknown: missing:1",
                         "W spec.containers{app} Failed: Error: ErrImagePull"}));
  events_.clear();
  sync(p);
  EXPECT_EQ(events_, (std::vector<std::string>{
                         "N spec.containers{app} BackOff: Back-off pulling image \"missing:1\"",
                         "W spec.containers{app} Failed: Error: ImagePullBackOff"}));
}

TEST_F(PodWorkerTest, PullPolicyNeverWithoutTheImageRecordsErrImageNeverPull) {
  json p = pod();
  p["spec"]["containers"][0]["imagePullPolicy"] = "Never";
  sync(p);
  EXPECT_EQ(cs(p)["state"]["waiting"]["reason"], "ErrImageNeverPull");
  EXPECT_EQ(rt_.pulls(), 0);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[0], "W spec.containers{app} ErrImageNeverPull: Container image \"busybox:1\" is not "
                        "present with pull policy of Never");
  EXPECT_EQ(events_[1], "W spec.containers{app} Failed: Error: ErrImageNeverPull");
}

TEST_F(PodWorkerTest, RecordsCrashLoopBackOffConfigErrorsAndKilling) {
  json p = pod("Always");
  p["spec"]["initContainers"] = json::parse(R"([{"name":"i1","image":"busybox:1","command":["true"]}])");
  sync(p);
  EXPECT_EQ(events_.back(), "N spec.initContainers{i1} Started: Started container i1");
  rt_.exitContainer("i1", 0);
  sync(p);
  rt_.exitContainer("app", 1);
  sync(p);  // first restart is immediate
  rt_.exitContainer("app", 1);
  events_.clear();
  sync(p);
  sync(p);
  EXPECT_EQ(events_, (std::vector<std::string>(
                         2, "W spec.containers{app} BackOff: Back-off restarting failed container app in "
                            "pod p_ns(u1)")))
      << "each sync in back-off repeats the same event (the recorder counts it)";
  clock_.advance(std::chrono::seconds(10));
  sync(p);
  events_.clear();
  p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  sync(p);
  EXPECT_EQ(events_, std::vector<std::string>{"N spec.containers{app} Killing: Stopping container app"});

  json q = pod();
  q["spec"]["containers"][0]["env"] = json::parse(
      R"([{"name":"X","valueFrom":{"configMapKeyRef":{"name":"nope","key":"k"}}}])");
  events_.clear();
  sync(q);
  ASSERT_FALSE(events_.empty());
  EXPECT_EQ(events_.back().rfind("W spec.containers{app} Failed: Error: ", 0), 0u) << events_.back();
  EXPECT_NE(events_.back().find("nope"), std::string::npos) << events_.back();
}

}  // namespace
}  // namespace berth::kubelet
