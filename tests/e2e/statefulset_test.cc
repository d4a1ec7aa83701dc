// End-to-end: StatefulSets against a real `berth server`, driven by the real kubectl. No node
// agent runs here, so the test plays the kubelet: it reports pods Running and Ready through the
// status subresource, which is what lets an OrderedReady set move on to the next ordinal.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

const char* kStatefulSet = R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: "nginx:1"}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
)";

class StatefulSetTest : public ServerTest {
 protected:
  StatefulSetTest() : ServerTest("sts") {}
  // Pod name -> image, for the pods of "web".
  std::map<std::string, std::string> podImages(const json& list) {
    std::map<std::string, std::string> out;
    for (const auto& p : list.value("items", json::array()))
      if (!p["metadata"].contains("deletionTimestamp"))
        out[p["metadata"]["name"]] = p["spec"]["containers"][0]["image"];
    return out;
  }
  bool awaitPods(const std::map<std::string, std::string>& want) {
    json last;
    bool ok = await("pods", {"pods", "-l", "app=web"},
                    [&](const json& l) { return podImages(l) == want; }, &last);
    EXPECT_TRUE(ok) << "pods now: " << json(podImages(last)).dump();
    return ok;
  }
  // What a kubelet would report.
  void makeReady(const std::string& pod) {
    json status = {{"phase", "Running"},
                   {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
    ok({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p",
        json({{"status", status}}).dump()});
  }
  // The StatefulSet's status has caught up with `n` existing pods (the controller has seen them
  // all and acted on what it saw: it creates pods before it writes status).
  void awaitObserved(int n) {
    json last;
    EXPECT_TRUE(await("statefulsets", {"statefulset", "web"}, [&](const json& s) {
      return s.value("status", json::object()).value("replicas", -1) == n;
    }, &last)) << last.dump();
  }

};

TEST_F(StatefulSetTest, OrderedCreationRollingUpdateUndoScaleAndPartition) {
  ok({"apply", "-f", "-"}, kStatefulSet);
  const std::string v1 = "nginx:1", v2 = "nginx:2", v3 = "nginx:3";

  // OrderedReady: each ordinal waits for the one before to be Running and Ready.
  for (int i = 0; i < 3; ++i) {
    std::map<std::string, std::string> want;
    for (int j = 0; j <= i; ++j) want["web-" + std::to_string(j)] = v1;
    ASSERT_TRUE(awaitPods(want));
    awaitObserved(i + 1);
    EXPECT_EQ(podImages(get({"pods", "-l", "app=web"})), want) << "a pod was created too early";
    makeReady("web-" + std::to_string(i));
  }
  json pod = get({"pod", "web-1"});
  EXPECT_EQ(pod["spec"]["hostname"], "web-1");
  EXPECT_EQ(pod["spec"]["subdomain"], "nginx");
  EXPECT_EQ(pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "web-1");
  EXPECT_EQ(pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "1");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
  std::string out = ok({"rollout", "status", "sts/web", "--timeout=30s"});
  // kubectl reports a RollingUpdate with a partition (defaulted to 0) as a partitioned roll out.
  EXPECT_NE(out.find("partitioned roll out complete: 3 new pods have been updated"), std::string::npos) << out;

  // Columns.
  out = ok({"get", "sts"});
  EXPECT_EQ(out.substr(0, out.find('\n')).find("NAME"), 0u) << out;
  EXPECT_NE(out.find("READY"), std::string::npos) << out;
  EXPECT_NE(out.find("web    3/3"), std::string::npos) << out;
  out = ok({"get", "sts", "-o", "wide"});
  EXPECT_NE(out.find("CONTAINERS"), std::string::npos) << out;
  EXPECT_NE(out.find("nginx:1"), std::string::npos) << out;

  // The volume claim templates are kept, and a warning says no claim is provisioned.
  EXPECT_EQ(get({"sts", "web"})["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
  json events;
  EXPECT_TRUE(await("events", {"events", "--field-selector", "reason=ClaimsNotProvisioned"},
                    [](const json& l) { return l.value("items", json::array()).size() == 1; },
                    &events)) << events.dump();

  // A rolling update goes from the highest ordinal down, one pod at a time.
  ok({"set", "image", "sts/web", "nginx=" + v2});
  ASSERT_TRUE(awaitPods({{"web-0", v1}, {"web-1", v1}, {"web-2", v2}}));
  awaitObserved(3);
  EXPECT_EQ(podImages(get({"pods", "-l", "app=web"}))["web-1"], v1) << "web-1 replaced before web-2 was ready";
  makeReady("web-2");
  ASSERT_TRUE(awaitPods({{"web-0", v1}, {"web-1", v2}, {"web-2", v2}}));
  makeReady("web-1");
  ASSERT_TRUE(awaitPods({{"web-0", v2}, {"web-1", v2}, {"web-2", v2}}));
  makeReady("web-0");
  out = ok({"rollout", "status", "sts/web", "--timeout=30s"});
  EXPECT_NE(out.find("partitioned roll out complete: 3 new pods have been updated"), std::string::npos) << out;

  out = ok({"rollout", "history", "sts/web"});
  EXPECT_NE(out.find("1 "), std::string::npos) << out;
  EXPECT_NE(out.find("2 "), std::string::npos) << out;
  out = ok({"rollout", "history", "sts/web", "--revision=1"});
  EXPECT_NE(out.find(v1), std::string::npos) << out;

  // Undo brings the first template back, rolled out the same way.
  ok({"rollout", "undo", "sts/web"});
  EXPECT_EQ(get({"sts", "web"})["spec"]["template"]["spec"]["containers"][0]["image"], v1);
  ASSERT_TRUE(awaitPods({{"web-0", v2}, {"web-1", v2}, {"web-2", v1}}));
  makeReady("web-2");
  ASSERT_TRUE(awaitPods({{"web-0", v2}, {"web-1", v1}, {"web-2", v1}}));
  makeReady("web-1");
  ASSERT_TRUE(awaitPods({{"web-0", v1}, {"web-1", v1}, {"web-2", v1}}));
  makeReady("web-0");
  ok({"rollout", "status", "sts/web", "--timeout=30s"});
  out = ok({"rollout", "history", "sts/web"});
  EXPECT_NE(out.find("3 "), std::string::npos) << out;  // revision 1 renumbered to 3

  // Scale down removes the highest ordinal.
  ok({"scale", "sts/web", "--replicas=2"});
  ASSERT_TRUE(awaitPods({{"web-0", v1}, {"web-1", v1}}));

  // Partition 1: only ordinals >= 1 are updated.
  ok({"patch", "sts", "web", "-p", R"({"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}})"});
  ok({"set", "image", "sts/web", "nginx=" + v3});
  ASSERT_TRUE(awaitPods({{"web-0", v1}, {"web-1", v3}}));
  makeReady("web-1");
  out = ok({"rollout", "status", "sts/web", "--timeout=30s"});
  EXPECT_NE(out.find("partitioned roll out complete: 1 new pods have been updated"), std::string::npos) << out;
  EXPECT_EQ(podImages(get({"pods", "-l", "app=web"})), (std::map<std::string, std::string>{{"web-0", v1}, {"web-1", v3}}));
}

TEST_F(StatefulSetTest, ValidationAndUpdateRules) {
  auto r = kn({"apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: x}}
  podManagementPolicy: Sometimes
  template:
    metadata: {labels: {app: other}}
    spec: {containers: [{name: c, image: busybox}]}
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.template.metadata.labels: Invalid value"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("`selector` does not match template `labels`"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("spec.podManagementPolicy: Invalid value: \"Sometimes\": must be 'OrderedReady' or 'Parallel'"), std::string::npos) << r.err;

  ok({"apply", "-f", "-"}, kStatefulSet);
  json sts = get({"sts", "web"});
  EXPECT_EQ(sts["spec"]["podManagementPolicy"], "OrderedReady");
  EXPECT_EQ(sts["spec"]["updateStrategy"], json({{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}}));
  EXPECT_EQ(sts["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(sts["spec"]["persistentVolumeClaimRetentionPolicy"], json({{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}}));
  r = kn({"patch", "sts", "web", "-p", R"({"spec":{"serviceName":"other"}})"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"), std::string::npos) << r.err;
  ok({"patch", "sts", "web", "-p", R"({"spec":{"minReadySeconds":5,"revisionHistoryLimit":3}})"});
  EXPECT_EQ(ok({"get", "sts", "web", "-o", "jsonpath={.spec.minReadySeconds}"}), "5");
  EXPECT_EQ(ok({"get", "sts", "web", "-o", "name"}), "statefulset.apps/web\n");
}

}  // namespace
}  // namespace berth::e2e
