// Golden defaults: a minimal manifest in, the object upstream would store out.
#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::defaulted;
using testing::spec;

const json kDefaultedContainer = json::parse(R"({
  "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
  "ports": [{"containerPort": 80, "protocol": "TCP"}],
  "resources": {},
  "terminationMessagePath": "/dev/termination-log",
  "terminationMessagePolicy": "File"
})");

const json kDefaultedPodSpecFields = json::parse(R"({
  "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
  "securityContext": {}, "terminationGracePeriodSeconds": 30
})");

TEST(Defaults, MinimalDeployment) {
  json in = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
      "selector": {"matchLabels": {"app": "web"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                 "ports": [{"containerPort": 80}]}]}}}
  })");
  json want = json::parse(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
      "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
      "selector": {"matchLabels": {"app": "web"}},
      "strategy": {"type": "RollingUpdate",
                   "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
      "template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}}
  })");
  json& ps = want["spec"]["template"]["spec"];
  ps = kDefaultedPodSpecFields;
  ps["containers"] = json::array({kDefaultedContainer});
  EXPECT_EQ(defaulted(spec("apps", "v1", "Deployment"), in), want)
      << defaulted(spec("apps", "v1", "Deployment"), in).dump(2);
}

TEST(Defaults, DeploymentKeepsExplicitValues) {
  json in = json::parse(R"({"spec": {"replicas": 0, "strategy": {"type": "Recreate"},
    "template": {"spec": {"restartPolicy": "Always", "containers": []}}}})");
  json out = defaulted(spec("apps", "v1", "Deployment"), in);
  EXPECT_EQ(out["spec"]["replicas"], 0);
  EXPECT_EQ(out["spec"]["strategy"], json({{"type", "Recreate"}}));
}

TEST(Defaults, MinimalPod) {
  json in = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]},
                            {"name": "side", "image": "busybox",
                             "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                             "readinessProbe": {"httpGet": {"port": 8080}},
                             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
  })");
  json want = json::parse(R"({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {
      "containers": [],
      "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
      "serviceAccountName": "default", "serviceAccount": "default",
      "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
    "status": {"phase": "Pending", "qosClass": "Burstable"}
  })");
  json side = json::parse(R"({
    "name": "side", "image": "busybox", "imagePullPolicy": "Always",
    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
    "readinessProbe": {"httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
                       "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                       "failureThreshold": 3},
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
  })");
  want["spec"].update(kDefaultedPodSpecFields);
  want["spec"]["containers"] = json::array({kDefaultedContainer, side});
  json got = defaulted(spec("", "v1", "Pod"), in);
  EXPECT_EQ(got, want) << got.dump(2);
}

TEST(Defaults, PodServiceAccountAndTolerations) {
  json pod = json::parse(R"({"spec": {"serviceAccount": "builder", "containers": [],
    "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                     "effect": "NoExecute", "tolerationSeconds": 30}]}})");
  json got = defaulted(spec("", "v1", "Pod"), pod);
  EXPECT_EQ(got["spec"]["serviceAccountName"], "builder");
  ASSERT_EQ(got["spec"]["tolerations"].size(), 2u);
  EXPECT_EQ(got["spec"]["tolerations"][0]["tolerationSeconds"], 30);
  EXPECT_EQ(got["spec"]["tolerations"][1]["key"], "node.kubernetes.io/not-ready");

  json dep = defaulted(spec("apps", "v1", "Deployment"),
                       json::parse(R"({"spec": {"template": {"spec": {"serviceAccountName": "web", "containers": []}}}})"));
  EXPECT_EQ(dep["spec"]["template"]["spec"]["serviceAccount"], "web");
  EXPECT_FALSE(dep["spec"]["template"]["spec"].contains("tolerations"));
}

TEST(Defaults, PodImagePullPolicyAndQos) {
  auto policy = [](const std::string& image) {
    json pod = {{"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}};
    return defaulted(spec("", "v1", "Pod"), pod)["spec"]["containers"][0]["imagePullPolicy"];
  };
  EXPECT_EQ(policy("nginx"), "Always");
  EXPECT_EQ(policy("nginx:latest"), "Always");
  EXPECT_EQ(policy("registry:5000/nginx"), "Always");
  EXPECT_EQ(policy("registry:5000/nginx:1.2"), "IfNotPresent");
  EXPECT_EQ(policy("nginx@sha256:abcd"), "IfNotPresent");

  json best = {{"spec", {{"containers", {{{"name", "c"}, {"image", "x"}}}}}}};
  EXPECT_EQ(defaulted(spec("", "v1", "Pod"), best)["status"]["qosClass"], "BestEffort");
  json guaranteed = {{"spec", {{"containers", {{{"name", "c"}, {"image", "x"},
      {"resources", {{"limits", {{"cpu", "1"}, {"memory", "1Gi"}}}}}}}}}}};
  EXPECT_EQ(defaulted(spec("", "v1", "Pod"), guaranteed)["status"]["qosClass"], "Guaranteed");
}

TEST(Defaults, MinimalService) {
  json in = json::parse(R"({"metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})");
  json want = json::parse(R"({"metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"},
             "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
             "type": "ClusterIP", "sessionAffinity": "None",
             "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
             "internalTrafficPolicy": "Cluster"},
    "status": {"loadBalancer": {}}})");
  json got = defaulted(spec("", "v1", "Service"), in);
  EXPECT_EQ(got, want) << got.dump(2);
}

TEST(Defaults, NodePortAndExternalNameServices) {
  json np = {{"spec", {{"type", "NodePort"}, {"ports", {{{"port", 80}, {"targetPort", "http"}}}}}}};
  json got = defaulted(spec("", "v1", "Service"), np);
  EXPECT_EQ(got["spec"]["externalTrafficPolicy"], "Cluster");
  EXPECT_EQ(got["spec"]["ports"][0]["targetPort"], "http");
  json lb = {{"spec", {{"type", "LoadBalancer"}, {"ports", {{{"port", 443}}}}}}};
  EXPECT_EQ(defaulted(spec("", "v1", "Service"), lb)["spec"]["allocateLoadBalancerNodePorts"], true);
  json en = {{"spec", {{"type", "ExternalName"}, {"externalName", "example.com"}}}};
  got = defaulted(spec("", "v1", "Service"), en);
  EXPECT_FALSE(got["spec"].contains("ipFamilies"));
  EXPECT_FALSE(got["spec"].contains("externalTrafficPolicy"));
}

TEST(Defaults, WorkloadsAndOthers) {
  json rs = defaulted(spec("apps", "v1", "ReplicaSet"), json{{"spec", {{"template", {{"spec", {{"containers", json::array()}}}}}}}});
  EXPECT_EQ(rs["spec"]["replicas"], 1);
  EXPECT_EQ(rs["spec"]["template"]["spec"]["restartPolicy"], "Always");

  json ds = defaulted(spec("apps", "v1", "DaemonSet"), json::object());
  EXPECT_EQ(ds["spec"]["updateStrategy"],
            json::parse(R"({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})"));
  EXPECT_EQ(ds["spec"]["revisionHistoryLimit"], 10);

  json job = defaulted(spec("batch", "v1", "Job"),
                       json::parse(R"({"metadata": {"name": "pi", "uid": "u-1"},
                         "spec": {"template": {"metadata": {"labels": {"team": "a"}},
                                               "spec": {"restartPolicy": "Never", "containers": []}}}})"));
  EXPECT_EQ(job["spec"]["parallelism"], 1);
  EXPECT_EQ(job["spec"]["completions"], 1);
  EXPECT_EQ(job["spec"]["backoffLimit"], 6);
  EXPECT_EQ(job["spec"]["completionMode"], "NonIndexed");
  EXPECT_EQ(job["spec"]["suspend"], false);
  EXPECT_EQ(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
  EXPECT_FALSE(job["spec"].contains("manualSelector"));
  EXPECT_EQ(job["spec"]["selector"],
            json::parse(R"({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})"));
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "pi");
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(job["spec"]["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(job["metadata"]["labels"]["team"], "a");

  json parallelOnly = defaulted(spec("batch", "v1", "Job"), json{{"spec", {{"parallelism", 3}}}});
  EXPECT_FALSE(parallelOnly["spec"].contains("completions"));

  json ns = defaulted(spec("", "v1", "Namespace"), json{{"metadata", {{"name", "team-a"}}}});
  EXPECT_EQ(ns["spec"]["finalizers"], json::array({"kubernetes"}));
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");

  json secret = defaulted(spec("", "v1", "Secret"),
                          json{{"stringData", {{"password", "hunter2"}}}, {"data", {{"user", "YWRtaW4="}}}});
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_FALSE(secret.contains("stringData"));
  EXPECT_EQ(secret["data"], json({{"user", "YWRtaW4="}, {"password", "aHVudGVyMg=="}}));

  json hpa = defaulted(spec("autoscaling", "v2", "HorizontalPodAutoscaler"), json::object());
  EXPECT_EQ(hpa["spec"]["minReplicas"], 1);
  EXPECT_EQ(hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
  EXPECT_FALSE(hpa["spec"].contains("behavior"));

  json ng = defaulted(spec("berth.dev", "v1alpha1", "NodeGroup"),
                      json{{"spec", {{"scaling", {{"desiredSize", 3}}}}}});
  EXPECT_EQ(ng["spec"], json::parse(R"({"type": "managed", "capacityType": "ON_DEMAND",
      "instanceTypes": ["m5.large"], "amiFamily": "AmazonLinux2023",
      "scaling": {"desiredSize": 3, "minSize": 0, "maxSize": 3},
      "updateConfig": {"maxUnavailable": 1}})"));

  json node = defaulted(spec("", "v1", "Node"), json{{"status", {{"capacity", {{"cpu", "4"}}}}}});
  EXPECT_EQ(node["status"]["allocatable"], json({{"cpu", "4"}}));
}

TEST(Defaults, AreIdempotent) {
  for (const auto& k : KindRegistry::builtin().all()) {
    if (!k.defaults) continue;
    json once = defaulted(k, json{{"metadata", {{"name", "x"}, {"uid", "u"}}}});
    EXPECT_EQ(defaulted(k, once), once) << k.kind;
  }
}

}  // namespace
}  // namespace berth::apiserver
