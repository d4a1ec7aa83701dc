// End-to-end: the real kubectl (v1.32 on the PATH) against a real `berth server`.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The events of a raw watch's output (one JSON object per line).
std::vector<json> watchEvents(const std::string& out) {
  std::vector<json> events;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) events.push_back(json::parse(l));
  return events;
}

class KubectlTest : public ServerTest {
 protected:
  KubectlTest() : ServerTest("t") {}
  json getJson(const std::string& what) { return json::parse(ok({"get", what, "-o", "json"})); }
};

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
      - name: sidecar
        image: busybox:1.36
        command: ["sleep", "infinity"]
)";

TEST_F(KubectlTest, VersionReportsMinor32) {
  auto r = k({"version", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json v = json::parse(r.out);
  EXPECT_EQ(v["serverVersion"]["major"], "1");
  EXPECT_EQ(v["serverVersion"]["minor"], "32");
}

TEST_F(KubectlTest, ApiResourcesListsKindsWithShortNames) {
  auto r = k({"api-resources"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deployments"), std::string::npos);
  EXPECT_NE(r.out.find("deploy"), std::string::npos);
  EXPECT_NE(r.out.find("nodegroups"), std::string::npos);
  EXPECT_NE(r.out.find("berth.dev/v1alpha1"), std::string::npos);
  EXPECT_NE(r.out.find("horizontalpodautoscalers"), std::string::npos);
}

TEST_F(KubectlTest, ExplainPrintsFieldsFromOpenApi) {
  auto r = k({"explain", "deployment.spec.strategy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("rollingUpdate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("type"), std::string::npos);
  // Berth's own kinds, the network ones and the kinds added since, explain too.
  for (const char* what :
       {"vpc.spec.natGateway", "subnet.status.subnetId", "natgateway.spec",
        "loadbalancer.spec.listeners.targets", "nodegroup.spec.scaling", "priorityclass.value",
        "limitrange.spec.limits", "resourcequota.spec.hard"}) {
    r = k({"explain", what});
    EXPECT_EQ(r.exit_code, 0) << what << ": " << r.err;
    EXPECT_NE(r.out.find("DESCRIPTION"), std::string::npos) << what << ": " << r.out;
  }
}

TEST_F(KubectlTest, StartsWithTheStandardNamespaces) {
  std::string out = ok({"get", "namespaces"});
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
    EXPECT_NE(out.find(ns), std::string::npos) << ns;
  EXPECT_NE(out.find("Active"), std::string::npos);
}

TEST_F(KubectlTest, ApplyCreatesThenMergesThenIsUnchanged) {
  EXPECT_NE(ok({"apply", "-f", "-"}, kDeployment).find("deployment.apps/web created"), std::string::npos);
  EXPECT_NE(ok({"apply", "-f", "-"}, kDeployment).find("unchanged"), std::string::npos);
  json d = getJson("deploy/web");
  EXPECT_EQ(d["metadata"]["generation"], 1);
  // Defaults as upstream.
  EXPECT_EQ(d["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ(d["spec"]["revisionHistoryLimit"], 10);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");

  // Change the image and drop the sidecar: apply must remove the container (patch metadata
  // from the OpenAPI documents says containers merge by name).
  std::string changed = kDeployment;
  changed.replace(changed.find("nginx:1.25"), 10, "nginx:1.26");
  changed = changed.substr(0, changed.find("      - name: sidecar"));
  EXPECT_NE(ok({"apply", "-f", "-"}, changed).find("configured"), std::string::npos);
  d = getJson("deploy/web");
  ASSERT_EQ(d["spec"]["template"]["spec"]["containers"].size(), 1u);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_EQ(d["metadata"]["generation"], 2);
}

// `kubectl apply --prune -l` without an allowlist lists every kind of kubectl's default prune
// set (PersistentVolumeClaim, ReplicationController, Ingress... among them): each must be
// served, or kubectl stops before pruning anything.
TEST_F(KubectlTest, ApplyPruneRemovesWhatTheManifestDropped) {
  const std::string two = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: keep, labels: {set: prune}}
data: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: drop, labels: {set: prune}}
data: {a: "2"}
)";
  ok({"apply", "-f", "-"}, two);
  const std::string one = two.substr(0, two.find("---"));
  std::string out = ok({"apply", "-f", "-", "--prune", "-l", "set=prune"}, one);
  EXPECT_NE(out.find("configmap/drop pruned"), std::string::npos) << out;
  EXPECT_EQ(trimmed(ok({"get", "cm", "-l", "set=prune", "-o", "name"})), "configmap/keep");
}

// Storage and ingress objects are stored, defaulted, validated and printed as upstream; Berth
// binds no volume and runs no ingress controller, so they keep the phase they were created in.
TEST_F(KubectlTest, VolumesClaimsAndIngresses) {
  ok({"apply", "-f", "-"}, R"(apiVersion: v1
kind: PersistentVolume
metadata: {name: pv1}
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadOnlyMany, ReadWriteOnce]
  hostPath: {path: /tmp/pv1}
  storageClassName: manual
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx
  tls: [{hosts: [a.example.com], secretName: tls1}]
  rules:
  - host: a.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
)");
  json pv = getJson("pv/pv1");
  EXPECT_EQ(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
  EXPECT_EQ(pv["spec"]["volumeMode"], "Filesystem");
  EXPECT_EQ(pv["status"]["phase"], "Pending");
  std::string table = ok({"get", "pv"});
  EXPECT_NE(table.find("RECLAIM POLICY"), std::string::npos) << table;
  // Capacity as written, access modes abbreviated in upstream's fixed order.
  EXPECT_NE(table.find("5Gi        RWO,ROX        Retain"), std::string::npos) << table;
  json pvc = getJson("pvc/data");
  EXPECT_EQ(pvc["status"]["phase"], "Pending");
  table = ok({"get", "pvc", "-o", "wide"});
  EXPECT_NE(table.find("VOLUMEMODE"), std::string::npos) << table;
  EXPECT_NE(table.find("Pending"), std::string::npos) << table;
  table = ok({"get", "ingress"});
  EXPECT_NE(table.find("nginx   a.example.com             80, 443"), std::string::npos) << table;

  // A claim may grow; its access modes are fixed.
  ok({"patch", "pvc", "data", "-p", R"({"spec":{"resources":{"requests":{"storage":"2Gi"}}}})"});
  auto r = kn({"patch", "pvc", "data", "-p", R"({"spec":{"accessModes":["ReadWriteMany"]}})"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec is immutable after creation"), std::string::npos) << r.err;

  r = kn({"create", "-f", "-"}, R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: bad}
spec: {resources: {requests: {storage: 0}}}
)");
  EXPECT_NE(r.err.find("spec.accessModes: Required value"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("spec.resources[storage]: Invalid value"), std::string::npos) << r.err;
  r = kn({"create", "-f", "-"}, R"(apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: bad}
spec:
  rules:
  - http:
      paths:
      - {path: /x, backend: {service: {name: web, port: {number: 80}}}}
)");
  EXPECT_NE(r.err.find("spec.rules[0].http.paths[0].pathType: Required value"), std::string::npos)
      << r.err;
  EXPECT_EQ(kn({"get", "ingress", "bad"}).exit_code, 1);
}

// PriorityClasses as upstream's Priority admission plugin sees them: the two system classes
// from the start, one global default, and pods that get their priority from the class they
// name (or the default) when they are created.
TEST_F(KubectlTest, PriorityClassesGivePodsTheirPriority) {
  std::string table = ok({"get", "priorityclasses"});
  EXPECT_NE(table.find("system-node-critical      2000001000   false"), std::string::npos) << table;
  EXPECT_NE(table.find("system-cluster-critical   2000000000   false"), std::string::npos) << table;
  ok({"create", "priorityclass", "high", "--value=1000", "--preemption-policy=Never"});
  ok({"create", "priorityclass", "low", "--value=10", "--global-default"});
  auto r = kn({"create", "priorityclass", "other", "--value=5", "--global-default"});
  EXPECT_NE(
      r.err.find("PriorityClass low is already marked as default. Only one default can exist"),
      std::string::npos)
      << r.err;
  r = kn({"create", "priorityclass", "system-mine", "--value=5"});
  EXPECT_NE(r.err.find("metadata.name: Forbidden: priority class names with 'system-' prefix are "
                       "reserved for system use only"),
            std::string::npos)
      << r.err;
  r = kn({"create", "priorityclass", "huge", "--value=1000000001"});
  EXPECT_NE(r.err.find("maximum allowed value of a user defined priority is 1000000000"),
            std::string::npos)
      << r.err;
  r = kn({"delete", "pc", "system-node-critical"});
  EXPECT_NE(r.err.find("this is a system priority class and cannot be deleted"), std::string::npos)
      << r.err;
  r = kn({"patch", "pc", "high", "-p", R"({"value":7})"});
  EXPECT_NE(r.err.find("value: Forbidden: may not be changed in an update"), std::string::npos)
      << r.err;
  EXPECT_EQ(ok({"get", "pc", "-o", "name"}).find("priorityclass.scheduling.k8s.io/other"),
            std::string::npos);

  ok({"run", "urgent", "--image=busybox", R"(--overrides={"spec":{"priorityClassName":"high"}})"});
  ok({"run", "plain", "--image=busybox"});
  json urgent = getJson("pod/urgent");
  EXPECT_EQ(urgent["spec"]["priority"], 1000);
  EXPECT_EQ(urgent["spec"]["preemptionPolicy"], "Never");
  json plain = getJson("pod/plain");
  EXPECT_EQ(plain["spec"]["priorityClassName"], "low");
  EXPECT_EQ(plain["spec"]["priority"], 10);
  r = kn(
      {"run", "lost", "--image=busybox", R"(--overrides={"spec":{"priorityClassName":"gone"}})"});
  EXPECT_NE(r.err.find(R"(pods "lost" is forbidden: no PriorityClass with name gone was found)"),
            std::string::npos)
      << r.err;
  r = kn({"run", "pushy", "--image=busybox", R"(--overrides={"spec":{"priority":2000}})"});
  EXPECT_NE(r.err.find("the integer value of priority (2000) must not be provided in pod spec"),
            std::string::npos)
      << r.err;
  // A replace that leaves the priority out keeps the one the pod was given.
  urgent["spec"].erase("priority");
  urgent["spec"].erase("preemptionPolicy");
  ok({"replace", "-f", "-"}, urgent.dump());
  EXPECT_EQ(getJson("pod/urgent")["spec"]["priority"], 1000);
}

// A LimitRange as upstream's LimitRanger applies it: new pods get its defaults (and the
// annotation saying so) and are refused outside its bounds, with its messages.
TEST_F(KubectlTest, LimitRangesDefaultAndBoundNewPods) {
  ok({"create", "namespace", "limited"});
  ok({"apply", "-n", "limited", "-f", "-"}, R"(apiVersion: v1
kind: LimitRange
metadata: {name: compute}
spec:
  limits:
  - type: Container
    max: {cpu: "1", memory: 1Gi}
    defaultRequest: {cpu: 100m}
  - type: PersistentVolumeClaim
    max: {storage: 2Gi}
)");
  // The Container item's default limit came from its max.
  json lr = json::parse(ok({"get", "limitrange", "compute", "-n", "limited", "-o", "json"}));
  EXPECT_EQ(lr["spec"]["limits"][0]["default"], json::parse(R"({"cpu": "1", "memory": "1Gi"})"));
  std::string table = ok({"get", "limits", "-n", "limited"});
  EXPECT_NE(table.find("CREATED AT"), std::string::npos) << table;
  std::string described = ok({"describe", "limitrange", "compute", "-n", "limited"});
  EXPECT_NE(described.find("Container              memory    -    1Gi  1Gi"), std::string::npos)
      << described;

  ok({"run", "plain", "-n", "limited", "--image=busybox"});
  json pod = json::parse(ok({"get", "pod", "plain", "-n", "limited", "-o", "json"}));
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"],
            json::parse(R"({"requests": {"cpu": "100m", "memory": "1Gi"},
                            "limits": {"cpu": "1", "memory": "1Gi"}})"));
  EXPECT_EQ(pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
            "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit "
            "for container plain");
  auto r = kn(
      {"run", "greedy", "-n", "limited", "--image=busybox",
       R"(--overrides={"spec":{"containers":[{"name":"greedy","image":"busybox","resources":{"limits":{"cpu":"2"}}}]}})"});
  EXPECT_NE(
      r.err.find(
          R"(pods "greedy" is forbidden: maximum cpu usage per Container is 1, but limit is 2.)"),
      std::string::npos)
      << r.err;
  r = kn({"create", "-n", "limited", "-f", "-"}, R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: big}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}
)");
  EXPECT_NE(
      r.err.find("maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi."),
      std::string::npos)
      << r.err;
  // Another namespace is not limited; a bad range is refused with its field.
  ok({"run", "free", "--image=busybox"});
  json free = getJson("pod/free")["spec"]["containers"][0];
  EXPECT_FALSE(free.contains("resources") && free["resources"].contains("limits")) << free;
  r = kn({"apply", "-f", "-"}, R"(apiVersion: v1
kind: LimitRange
metadata: {name: upside-down}
spec:
  limits:
  - {type: Container, min: {cpu: "2"}, max: {cpu: "1"}}
)");
  EXPECT_NE(r.err.find("spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than "
                       "max value 1"),
            std::string::npos)
      << r.err;
}

// A ResourceQuota as upstream's quota admission and controller keep it: the controller fills
// its status, creates that would go over are refused with upstream's messages, and a deleted
// object gives its share back.
TEST_F(KubectlTest, ResourceQuotasRefuseWhatWouldGoOver) {
  ok({"create", "namespace", "quoted"});
  ok({"create", "quota", "small", "-n", "quoted",
      "--hard=pods=2,requests.cpu=1,limits.memory=1Gi,services=1,count/deployments.apps=1"});
  ok({"wait", "-n", "quoted", "--for=jsonpath={.status.used.pods}=0", "quota/small",
      "--timeout=30s"});
  auto pod = [](const std::string& name, const std::string& cpu) {
    return R"(--overrides={"spec":{"containers":[{"name":")" + name +
           R"(","image":"busybox","resources":{"requests":{"cpu":")" + cpu +
           R"("},"limits":{"memory":"256Mi"}}}]}})";
  };
  ok({"run", "one", "-n", "quoted", "--image=busybox", pod("one", "600m")});
  auto r = kn({"run", "two", "-n", "quoted", "--image=busybox", pod("two", "600m")});
  EXPECT_NE(
      r.err.find(
          R"(pods "two" is forbidden: exceeded quota: small, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1)"),
      std::string::npos)
      << r.err;
  r = kn({"run", "bare", "-n", "quoted", "--image=busybox"});
  EXPECT_NE(r.err.find("failed quota: small: must specify limits.memory for: bare; requests.cpu "
                       "for: bare"),
            std::string::npos)
      << r.err;
  ok({"run", "three", "-n", "quoted", "--image=busybox", pod("three", "400m")});
  r = kn({"run", "four", "-n", "quoted", "--image=busybox", pod("four", "0")});
  EXPECT_NE(r.err.find("exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2"),
            std::string::npos)
      << r.err;
  std::string table = ok({"get", "quota", "-n", "quoted"});
  EXPECT_NE(table.find("pods: 2/2, requests.cpu: 1/1"), std::string::npos) << table;
  EXPECT_NE(table.find("limits.memory: 512Mi/1Gi"), std::string::npos) << table;

  // A deleted pod gives its share back.
  ok({"delete", "pod", "one", "-n", "quoted", "--grace-period=0", "--force"});
  ok({"wait", "-n", "quoted", "--for=jsonpath={.status.used.pods}=1", "quota/small",
      "--timeout=30s"});
  ok({"run", "five", "-n", "quoted", "--image=busybox", pod("five", "500m")});

  ok({"create", "service", "clusterip", "first", "-n", "quoted", "--tcp=80"});
  r = kn({"create", "service", "clusterip", "second", "-n", "quoted", "--tcp=80"});
  EXPECT_NE(r.err.find("exceeded quota: small, requested: services=1"), std::string::npos) << r.err;
  // An update is charged what it adds: turning the service into a NodePort one takes a port.
  ok({"create", "quota", "ports", "-n", "quoted", "--hard=services.nodeports=0"});
  ok({"wait", "-n", "quoted", R"(--for=jsonpath={.status.used.services\.nodeports}=0)",
      "quota/ports", "--timeout=30s"});
  r = kn({"patch", "service", "first", "-n", "quoted", "-p", R"({"spec":{"type":"NodePort"}})"});
  EXPECT_NE(r.err.find(R"(services "first" is forbidden: exceeded quota: ports, requested: )"
                       R"(services.nodeports=1, used: services.nodeports=0, limited: )"
                       R"(services.nodeports=0)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(ok({"get", "service", "first", "-n", "quoted", "-o", "jsonpath={.spec.type}"}),
            "ClusterIP");
  // A change that adds nothing is not charged.
  ok({"label", "service", "first", "-n", "quoted", "tier=web"});
  ok({"create", "deployment", "app", "-n", "quoted", "--image=busybox"});
  r = kn({"create", "deployment", "again", "-n", "quoted", "--image=busybox"});
  EXPECT_NE(
      r.err.find(
          R"(deployments.apps "again" is forbidden: exceeded quota: small, requested: count/deployments.apps=1)"),
      std::string::npos)
      << r.err;
  // Other namespaces are not limited.
  ok({"create", "deployment", "elsewhere", "--image=busybox"});
}

// Guards upstream keeps that a careless request must not get past: the cluster's own
// namespaces, a dry run that is not one, a uid or a finalizer slipped into an update, and input
// upstream reads more kindly than a strict reading would (long generateNames, "" enums,
// bytes that are not UTF-8).
TEST_F(KubectlTest, RequestsUpstreamRefusesOrReadsKindly) {
  for (const char* ns : {"default", "kube-system", "kube-public"}) {
    auto r = kn({"delete", "namespace", ns});
    EXPECT_NE(r.err.find(std::string("namespaces \"") + ns +
                         "\" is forbidden: this namespace may not be deleted"),
              std::string::npos)
        << r.err;
  }
  auto r = kn({"delete", "--raw", "/api/v1/namespaces"});
  EXPECT_NE(r.err.find("MethodNotAllowed"), std::string::npos) << r.err;
  EXPECT_EQ(ok({"get", "namespace", "default", "-o", "jsonpath={.status.phase}"}), "Active");

  r = kn({"create", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps?dryRun=Bogus", "-f", "-"},
         R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bogus"}})");
  EXPECT_NE(r.err.find(R"(dryRun: Unsupported value: []string{"Bogus"})"), std::string::npos)
      << r.err;
  EXPECT_NE(kn({"get", "configmap", "bogus"}).exit_code, 0);  // nothing was written

  ok({"create", "configmap", "held"});
  json cm = getJson("configmap/held");
  cm["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000";
  r = kn({"replace", "-f", "-"}, cm.dump());
  EXPECT_NE(r.err.find("Precondition failed: UID in precondition: "
                       "00000000-0000-0000-0000-000000000000, UID in object meta: "),
            std::string::npos)
      << r.err;
  // A patch that changes the uid is an invalid update.
  r = kn({"patch", "configmap", "held", "--type=merge", "-p",
          R"({"metadata":{"uid":"00000000-0000-0000-0000-000000000000"}})"});
  EXPECT_NE(r.err.find("metadata.uid: Invalid value: \"00000000-0000-0000-0000-000000000000\": "
                       "field is immutable"),
            std::string::npos)
      << r.err;
  ok({"patch", "configmap", "held", "--type=merge", "-p",
      R"({"metadata":{"finalizers":["a.example/one"]}})"});
  ok({"delete", "configmap", "held", "--wait=false"});
  r = kn({"patch", "configmap", "held", "--type=json", "-p",
          R"([{"op":"add","path":"/metadata/finalizers/-","value":"a.example/two"}])"});
  EXPECT_NE(r.err.find("no new finalizers can be added if the object is being deleted, found new "
                       "finalizers []string{\"a.example/two\"}"),
            std::string::npos)
      << r.err;
  ok({"patch", "configmap", "held", "--type=merge", "-p", R"({"metadata":{"finalizers":null}})"});

  std::string made = ok({"create", "-o", "name", "-f", "-"},
                        R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":")" +
                            std::string(70, 'g') + R"("}})");
  EXPECT_EQ(made.size(), std::string("configmap/").size() + 63 + 1) << made;  // 58 + 5, "\n"

  ok({"create", "-f", "-"}, R"(apiVersion: v1
kind: Pod
metadata: {name: blanks}
spec:
  restartPolicy: ""
  dnsPolicy: ""
  containers: [{name: a, image: "busybox:1", imagePullPolicy: "", ports: [{containerPort: 80, protocol: ""}]}]
)");
  EXPECT_EQ(ok({"get", "pod", "blanks", "-o",
                "jsonpath={.spec.restartPolicy} {.spec.dnsPolicy} "
                "{.spec.containers[0].imagePullPolicy} {.spec.containers[0].ports[0].protocol}"}),
            "Always ClusterFirst IfNotPresent TCP");

  // Requests from limits are a pod's default, not its template's.
  ok({"create", "deployment", "tmpl", "--image=busybox"});
  ok({"set", "resources", "deployment", "tmpl", "--limits=memory=512Mi"});
  json res = getJson("deployment/tmpl")["spec"]["template"]["spec"]["containers"][0]["resources"];
  EXPECT_EQ(res, json::parse(R"({"limits": {"memory": "512Mi"}})"));

  ok({"create", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps", "-f", "-"},
     "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"bytes\"},"
     "\"data\":{\"a\":\"\xC3\x28\"}}");
  EXPECT_EQ(ok({"get", "configmap", "bytes", "-o", "jsonpath={.data.a}"}), "\xEF\xBF\xBD(");
  // A JSON patch's failed test says why, where kubectl shows it.
  r = kn({"patch", "configmap", "bytes", "--type=json", "-p",
          R"([{"op":"test","path":"/data/a","value":"x"}])"});
  EXPECT_NE(r.err.find("json patch operation #0 (test \"/data/a\"): test failed"),
            std::string::npos)
      << r.err;
}

// List and watch options as upstream validates them, a resourceVersion the server has not
// reached, and the bookmark a watch gets 2 s before its deadline.
TEST_F(KubectlTest, ListAndWatchOptionsAsUpstream) {
  const std::string base = "/api/v1/namespaces/" + ns_ + "/configmaps";
  auto r = kn({"get", "--raw", base + "?resourceVersion=0&resourceVersionMatch=Exact"});
  EXPECT_NE(
      r.err.find(
          R"(resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0")"),
      std::string::npos)
      << r.err;
  r = kn({"get", "--raw", base + "?resourceVersionMatch=NotOlderThan"});
  EXPECT_NE(r.err.find("resourceVersionMatch is forbidden unless resourceVersion is provided"),
            std::string::npos)
      << r.err;
  for (const char* bad : {"?resourceVersion=-1", "?resourceVersion=abc", "?timeoutSeconds=abc",
                          "/kube-root-ca.crt?resourceVersion=x1"}) {
    r = kn({"get", "--raw", base + bad});
    EXPECT_NE(r.err.find("(BadRequest)"), std::string::npos) << bad << ": " << r.err;
  }
  r = kn({"get", "--raw", base + "?resourceVersion=999999999"});
  EXPECT_NE(r.err.find("Timeout: Too large resource version: 999999999, current: "),
            std::string::npos)
      << r.err;

  ok({"create", "configmap", "watched"});
  std::string rv =
      ok({"get", "configmap", "watched", "-o", "jsonpath={.metadata.resourceVersion}"});
  std::string events =
      ok({"get", "--raw",
          base + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=" + rv});
  // No change after rv: the only event is the bookmark, at the current revision.
  EXPECT_NE(events.find(R"("type":"BOOKMARK")"), std::string::npos) << events;
  EXPECT_EQ(std::count(events.begin(), events.end(), '\n'), 1) << events;
  events = ok({"get", "--raw", base + "?watch=1&timeoutSeconds=3&resourceVersion=" + rv});
  EXPECT_EQ(events, "");
  // The deprecated /watch/ path still watches.
  events = ok(
      {"get", "--raw", "/api/v1/watch/namespaces/" + ns_ + "/configmaps/watched?timeoutSeconds=1"});
  EXPECT_NE(events.find(R"("type":"ADDED")"), std::string::npos) << events;
  EXPECT_NE(events.find(R"("name":"watched")"), std::string::npos) << events;

  // Health checks list themselves with ?verbose and are served one by one.
  std::string ready = ok({"get", "--raw", "/readyz?verbose"});
  EXPECT_NE(ready.find("[+]etcd ok\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("readyz check passed"), std::string::npos) << ready;
  EXPECT_EQ(ok({"get", "--raw", "/livez/ping"}), "ok");
  EXPECT_NE(kn({"get", "--raw", "/readyz/no-such-check"}).exit_code, 0);
}

TEST_F(KubectlTest, ServerSideApplyConflictsAndForce) {
  const char* cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n";
  EXPECT_NE(ok({"apply", "--server-side", "-f", "-"}, cm).find("serverside-applied"), std::string::npos);
  ok({"patch", "configmap", "cfg", "--type=merge", "-p", R"({"data":{"a":"2"}})"});
  auto r = kn({"apply", "--server-side", "-f", "-"}, cm);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("conflict"), std::string::npos) << r.err;
  ok({"apply", "--server-side", "--force-conflicts", "-f", "-"}, cm);
  EXPECT_EQ(getJson("cm/cfg")["data"]["a"], "1");
}

// Server-side apply's ownership as structured-merge-diff keeps it: a sole owner's fields go
// when it stops applying them, inside list items too; a manager applying the same value
// co-owns it, so it stays; /status is applied and owned through its own entry.
TEST_F(KubectlTest, ServerSideApplyOwnershipInsideListsAndOnStatus) {
  auto deployment = [](const std::string& container) {
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: solo}\nspec:\n"
           "  selector: {matchLabels: {app: solo}}\n  template:\n"
           "    metadata: {labels: {app: solo}}\n    spec:\n      containers:\n" +
           container;
  };
  ok({"apply", "--server-side", "--field-manager=solo", "-f", "-"},
     deployment("      - name: c\n        image: nginx\n        workingDir: /tmp\n"
                "        env: [{name: X, value: '1'}, {name: YY, value: '2'}]\n"
                "        ports: [{containerPort: 80}, {containerPort: 81}]\n"));
  ok({"apply", "--server-side", "--field-manager=solo", "-f", "-"},
     deployment("      - name: c\n        image: nginx\n        env: [{name: X, value: '1'}]\n"
                "        ports: [{containerPort: 80}]\n"));
  json c = getJson("deployment/solo")["spec"]["template"]["spec"]["containers"][0];
  EXPECT_FALSE(c.contains("workingDir")) << c;
  EXPECT_EQ(c["env"], json::parse(R"([{"name": "X", "value": "1"}])"));
  EXPECT_EQ(c["ports"].size(), 1u) << c;

  auto cm = [](const std::string& data) {
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {" + data + "}\n";
  };
  ok({"apply", "--server-side", "--field-manager=first", "-f", "-"}, cm("x: same, z: mine"));
  ok({"apply", "--server-side", "--field-manager=second", "-f", "-"}, cm("x: same"));
  ok({"apply", "--server-side", "--field-manager=first", "-f", "-"}, cm("z: mine"));
  EXPECT_EQ(getJson("configmap/shared")["data"], json::parse(R"({"x": "same", "z": "mine"})"));

  ok({"create", "service", "loadbalancer", "edge", "--tcp=80"});
  ok({"apply", "--server-side", "--subresource=status", "--field-manager=lb-controller", "-f", "-"},
     "apiVersion: v1\nkind: Service\nmetadata: {name: edge}\n"
     "status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}\n");
  json svc = json::parse(ok({"get", "service", "edge", "-o", "json", "--show-managed-fields"}));
  EXPECT_EQ(svc["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.7");
  bool recorded = false;
  for (const json& m : svc["metadata"]["managedFields"])
    recorded |= m["manager"] == "lb-controller" && m.value("subresource", "") == "status" &&
                m["fieldsV1"].contains("f:status");
  EXPECT_TRUE(recorded) << svc["metadata"]["managedFields"];
}

// A Service's type changes as upstream's: node ports go with NodePort, the address with a
// switch to ExternalName (a new one comes back with ClusterIP); the address itself is fixed.
TEST_F(KubectlTest, ServiceTypeChangesAsUpstream) {
  ok({"create", "service", "nodeport", "moving", "--tcp=80"});
  std::string ip = ok({"get", "service", "moving", "-o", "jsonpath={.spec.clusterIP}"});
  ok({"patch", "service", "moving", "-p", R"({"spec":{"type":"ClusterIP"}})"});
  json spec = getJson("service/moving")["spec"];
  EXPECT_FALSE(spec["ports"][0].contains("nodePort")) << spec;
  EXPECT_FALSE(spec.contains("externalTrafficPolicy")) << spec;
  EXPECT_EQ(spec["clusterIP"], ip);
  auto r = kn({"patch", "service", "moving", "-p", R"({"spec":{"clusterIP":"10.96.0.250"}})"});
  EXPECT_NE(
      r.err.find(
          R"(spec.clusterIPs[0]: Invalid value: []string{"10.96.0.250"}: may not change once set)"),
      std::string::npos)
      << r.err;
  ok({"patch", "service", "moving", "-p",
      R"({"spec":{"type":"ExternalName","externalName":"db.example.com"}})"});
  spec = getJson("service/moving")["spec"];
  EXPECT_FALSE(spec.contains("clusterIP")) << spec;
  EXPECT_FALSE(spec.contains("clusterIPs")) << spec;
  ok({"patch", "service", "moving", "-p", R"({"spec":{"type":"ClusterIP","externalName":null}})"});
  EXPECT_NE(ok({"get", "service", "moving", "-o", "jsonpath={.spec.clusterIP}"}), "");
  // kube-proxy's selector, and the type.
  ok({"create", "service", "clusterip", "headless", "--clusterip=None"});
  EXPECT_EQ(ok({"get", "services", "--field-selector=spec.clusterIP!=None", "-o", "name"}),
            "service/moving\n");
  EXPECT_EQ(ok({"get", "services", "--field-selector=spec.type=ClusterIP,spec.clusterIP=None", "-o",
                "name"}),
            "service/headless\n");
  r = kn({"create", "-f", "-"}, R"(apiVersion: v1
kind: Service
metadata: {name: inside}
spec: {ports: [{port: 80}], externalTrafficPolicy: Local}
)");
  EXPECT_NE(r.err.find("spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for "
                       "externally-accessible services"),
            std::string::npos)
      << r.err;
}

TEST_F(KubectlTest, CreateCommandsSendProtobuf) {
  ok({"create", "deployment", "pb", "--image=nginx:1.25", "--replicas=3"});
  ok({"create", "configmap", "pbcm", "--from-literal=k=v"});
  ok({"create", "secret", "generic", "pbs", "--from-literal=pw=s3cret"});
  ok({"create", "service", "clusterip", "pbsvc", "--tcp=80:8080"});
  ok({"create", "job", "pbjob", "--image=busybox:1.36", "--", "true"});
  ok({"create", "serviceaccount", "pbsa"});
  EXPECT_EQ(getJson("deploy/pb")["spec"]["replicas"], 3);
  EXPECT_EQ(getJson("cm/pbcm")["data"]["k"], "v");
  EXPECT_EQ(getJson("secret/pbs")["data"]["pw"], "czNjcmV0");
  json svc = getJson("svc/pbsvc");
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], 8080);
  EXPECT_TRUE(svc["spec"]["clusterIP"].get<std::string>().rfind("10.", 0) == 0) << svc.dump();
  EXPECT_EQ(getJson("job/pbjob")["spec"]["template"]["spec"]["restartPolicy"], "Never");
}

TEST_F(KubectlTest, GetPrintsTablesAndFormats) {
  ok({"apply", "-f", "-"}, kDeployment);
  std::string table = ok({"get", "deployments"});
  EXPECT_NE(table.find("NAME"), std::string::npos);
  EXPECT_NE(table.find("READY"), std::string::npos);
  EXPECT_NE(table.find("UP-TO-DATE"), std::string::npos);
  EXPECT_NE(table.find("web"), std::string::npos);
  std::string wide = ok({"get", "deploy", "-o", "wide"});
  EXPECT_NE(wide.find("nginx:1.25,busybox:1.36"), std::string::npos) << wide;
  EXPECT_EQ(ok({"get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"}), "nginx:1.25");
  EXPECT_NE(ok({"get", "deploy", "web", "-o", "yaml"}).find("kind: Deployment"), std::string::npos);
  EXPECT_EQ(ok({"get", "deploy", "-o", "name"}), "deployment.apps/web\n");
  auto all = k({"get", "deploy", "-A"});
  ASSERT_EQ(all.exit_code, 0);
  EXPECT_NE(all.out.find(ns_), std::string::npos);
}

TEST_F(KubectlTest, SelectorsAndChunking) {
  for (int i = 0; i < 5; ++i) {
    std::string name = "cm" + std::to_string(i);
    ok({"create", "configmap", name, "--from-literal=i=" + std::to_string(i)});
    ok({"label", "configmap", name, std::string("parity=") + (i % 2 ? "odd" : "even")});
  }
  EXPECT_EQ(ok({"get", "cm", "-l", "parity=odd", "-o", "name"}), "configmap/cm1\nconfigmap/cm3\n");
  EXPECT_EQ(ok({"get", "cm", "-l", "parity in (even),parity!=odd", "-o", "name"}),
            "configmap/cm0\nconfigmap/cm2\nconfigmap/cm4\n");
  EXPECT_EQ(ok({"get", "cm", "--field-selector", "metadata.name=cm2", "-o", "name"}), "configmap/cm2\n");
  std::string chunked = ok({"get", "cm", "-l", "parity", "--chunk-size=2", "-o", "name"});
  EXPECT_EQ(chunked, "configmap/cm0\nconfigmap/cm1\nconfigmap/cm2\nconfigmap/cm3\nconfigmap/cm4\n");
  auto bad = kn({"get", "cm", "-l", "a in (b"});
  EXPECT_NE(bad.exit_code, 0);
  auto badfield = kn({"get", "cm", "--field-selector", "spec.foo=bar"});
  EXPECT_NE(badfield.exit_code, 0);
  EXPECT_NE(badfield.err.find("field label not supported"), std::string::npos) << badfield.err;
}

TEST_F(KubectlTest, ListsLargerThanOneResponsePieceArriveWhole) {
  // Six ~90 KB ConfigMaps: a list of them is over the 256 KiB the server still builds whole,
  // so it is streamed in pieces; pages of four are streamed too.
  const std::string value(90 * 1024, 'v');
  for (int i = 0; i < 6; ++i) {
    std::string name = "big" + std::to_string(i);
    ok({"create", "configmap", name, "--from-literal=v=" + value + std::to_string(i)});
    ok({"label", "configmap", name, "size=big"});
  }
  for (const char* chunk : {"--chunk-size=0", "--chunk-size=4"}) {
    json list = json::parse(ok({"get", "cm", "-l", "size=big", chunk, "-o", "json"}));
    ASSERT_EQ(list["items"].size(), 6u) << chunk;
    for (int i = 0; i < 6; ++i) {
      EXPECT_EQ(list["items"][i]["metadata"]["name"], "big" + std::to_string(i)) << chunk;
      EXPECT_EQ(list["items"][i]["data"]["v"], value + std::to_string(i)) << chunk;
    }
  }
  std::string table = ok({"get", "cm", "-l", "size=big", "--chunk-size=4"});
  for (int i = 0; i < 6; ++i) EXPECT_NE(table.find("big" + std::to_string(i) + " "), std::string::npos) << table;
}

TEST_F(KubectlTest, WatchSeesChanges) {
  ok({"create", "configmap", "watched", "--from-literal=a=1"});
  Child watch(server_->kubectlArgv({"-n", ns_, "get", "configmap", "watched", "-w", "-o",
                                    "jsonpath={.data.a}{\"\\n\"}"}),
              server_->kubectlEnv());
  std::string line;
  ASSERT_TRUE(watch.readLine(&line, std::chrono::seconds(20)));
  EXPECT_EQ(line, "1");
  ok({"patch", "configmap", "watched", "-p", R"({"data":{"a":"2"}})"});
  ASSERT_TRUE(watch.readLine(&line, std::chrono::seconds(20)));
  EXPECT_EQ(line, "2");
  watch.kill(SIGTERM);
}

// Streaming lists (sendInitialEvents) and the watch options upstream checks; a change that
// takes an object out of a selector is a DELETED of its last matching state.
TEST_F(KubectlTest, WatchListInitialEventsAndSelectorExits) {
  ok({"create", "configmap", "first", "--from-literal=a=1"});
  ok({"create", "configmap", "second", "--from-literal=a=1"});
  const std::string base = "/api/v1/namespaces/" + ns_ + "/configmaps?watch=1&timeoutSeconds=1";
  // The initial events, then one bookmark that says they have ended.
  auto events = watchEvents(ok(
      {"get", "--raw",
       base +
           "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"}));
  // (first, second and the namespace's kube-root-ca.crt)
  ASSERT_GE(events.size(), 4u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(events[i]["type"], "ADDED") << i;
  EXPECT_EQ(events[3]["type"], "BOOKMARK");
  EXPECT_EQ(events[3]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  for (size_t i = 0; i < 3; ++i)
    EXPECT_GE(std::stoll(events[3]["object"]["metadata"]["resourceVersion"].get<std::string>()),
              std::stoll(events[i]["object"]["metadata"]["resourceVersion"].get<std::string>()));
  // So client-go's streaming list (kubectl with WatchListClient) finishes instead of hanging.
  auto env = server_->kubectlEnv();
  env.push_back("KUBE_FEATURE_WatchListClient=true");
  CmdResult w = run(server_->kubectlArgv({"-n", ns_, "wait", "--for=jsonpath={.data.a}=1",
                                          "configmap/first", "--timeout=20s"}),
                    "", env);
  EXPECT_EQ(w.exit_code, 0) << w.err;
  // sendInitialEvents=false: only what happens from now on.
  for (const json& e : watchEvents(ok({"get", "--raw",
                                       base + "&sendInitialEvents=false&resourceVersionMatch="
                                              "NotOlderThan&allowWatchBookmarks=true"})))
    EXPECT_NE(e["type"], "ADDED") << e.dump();
  // Options upstream refuses for a watch.
  auto r = kn({"get", "--raw", base + "&sendInitialEvents=true"});
  EXPECT_NE(r.err.find("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
            std::string::npos)
      << r.err;
  r = kn({"get", "--raw", base + "&resourceVersionMatch=Exact&resourceVersion=1"});
  EXPECT_NE(r.err.find(
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
            std::string::npos)
      << r.err;
  r = kn({"get", "--raw", base + "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"});
  EXPECT_NE(
      r.err.find("allowWatchBookmarks must be set to true when sendInitialEvents is provided"),
      std::string::npos)
      << r.err;
  // watch=True is a watch, as any value but 0 and false.
  EXPECT_EQ(watchEvents(ok({"get", "--raw",
                            "/api/v1/namespaces/" + ns_ +
                                "/configmaps?watch=True&timeoutSeconds=1"}))[0]["type"],
            "ADDED");

  ok({"label", "configmap", "first", "app=x"});
  std::string rv = ok({"get", "configmap", "first", "-o", "jsonpath={.metadata.resourceVersion}"});
  Child watch(
      server_->kubectlArgv({"get", "--raw",
                            "/api/v1/namespaces/" + ns_ +
                                "/configmaps?watch=1&labelSelector=app%3Dx&resourceVersion=" + rv}),
      server_->kubectlEnv());
  ok({"label", "configmap", "first", "app=y", "--overwrite"});
  std::string seen;
  ASSERT_TRUE(watch.waitFor("DELETED", std::chrono::seconds(20), &seen)) << seen;
  watch.kill(SIGTERM);
  json deleted = watchEvents(seen).back();
  EXPECT_EQ(deleted["object"]["metadata"]["labels"]["app"], "x") << seen;
  EXPECT_EQ(deleted["object"]["metadata"]["resourceVersion"],
            ok({"get", "configmap", "first", "-o", "jsonpath={.metadata.resourceVersion}"}));
}

TEST_F(KubectlTest, DescribeLabelAnnotatePatchScale) {
  ok({"apply", "-f", "-"}, kDeployment);
  std::string d = ok({"describe", "deployment", "web"});
  EXPECT_NE(d.find("StrategyType:"), std::string::npos);
  EXPECT_NE(d.find("RollingUpdate"), std::string::npos);
  ok({"label", "deploy", "web", "tier=frontend"});
  ok({"annotate", "deploy", "web", "note=hello"});
  json obj = getJson("deploy/web");
  EXPECT_EQ(obj["metadata"]["labels"]["tier"], "frontend");
  EXPECT_EQ(obj["metadata"]["annotations"]["note"], "hello");
  ok({"label", "deploy", "web", "tier-"});
  EXPECT_FALSE(getJson("deploy/web")["metadata"]["labels"].contains("tier"));

  // Strategic merge: containers merge by name.
  ok({"patch", "deploy", "web", "-p",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}})"});
  obj = getJson("deploy/web");
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"].size(), 2u);
  EXPECT_EQ(obj["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
  // JSON merge patch replaces lists.
  ok({"patch", "deploy", "web", "--type=merge", "-p", R"({"metadata":{"labels":{"m":"x"}}})"});
  EXPECT_EQ(getJson("deploy/web")["metadata"]["labels"]["m"], "x");
  // JSON patch.
  ok({"patch", "deploy", "web", "--type=json", "-p", R"([{"op":"replace","path":"/spec/replicas","value":4}])"});
  EXPECT_EQ(getJson("deploy/web")["spec"]["replicas"], 4);
  std::string nochange = ok({"patch", "deploy", "web", "--type=json", "-p", R"([{"op":"replace","path":"/spec/replicas","value":4}])"});
  EXPECT_NE(nochange.find("no change"), std::string::npos) << nochange;
  // Scale through the scale subresource.
  EXPECT_NE(ok({"scale", "deploy", "web", "--replicas=7"}).find("scaled"), std::string::npos);
  EXPECT_EQ(getJson("deploy/web")["spec"]["replicas"], 7);
}

TEST_F(KubectlTest, ReplaceWithStaleResourceVersionConflicts) {
  ok({"create", "configmap", "rep", "--from-literal=a=1"});
  json cm = getJson("cm/rep");
  ok({"patch", "cm", "rep", "-p", R"({"data":{"a":"2"}})"});
  cm["data"]["a"] = "3";
  auto r = kn({"replace", "-f", "-"}, cm.dump());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the object has been modified"), std::string::npos) << r.err;
  EXPECT_EQ(getJson("cm/rep")["data"]["a"], "2");
  cm.erase("metadata");
  cm["metadata"] = {{"name", "rep"}};
  cm["data"]["a"] = "4";
  ok({"replace", "-f", "-"}, cm.dump());
  EXPECT_EQ(getJson("cm/rep")["data"]["a"], "4");
}

TEST_F(KubectlTest, DeleteAndWait) {
  ok({"create", "configmap", "gone", "--from-literal=a=1"});
  EXPECT_NE(ok({"delete", "configmap", "gone"}).find("deleted"), std::string::npos);
  auto r = kn({"get", "configmap", "gone"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("NotFound"), std::string::npos);
  EXPECT_NE(r.err.find("configmaps \"gone\" not found"), std::string::npos) << r.err;
  // A finalizer holds the object in Terminating; removing it completes the delete that
  // `kubectl wait --for=delete` is waiting for.
  ok({"apply", "-f", "-"},
     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
  ok({"delete", "configmap", "held", "--wait=false"});
  json held = getJson("cm/held");
  EXPECT_TRUE(held["metadata"].contains("deletionTimestamp"));
  Child waiter(server_->kubectlArgv({"-n", ns_, "wait", "--for=delete", "cm/held", "--timeout=30s"}),
               server_->kubectlEnv());
  ok({"patch", "cm", "held", "--type=json", "-p", R"([{"op":"remove","path":"/metadata/finalizers"}])"});
  EXPECT_EQ(waiter.wait(), 0);
  EXPECT_NE(kn({"get", "cm", "held"}).exit_code, 0);
}

TEST_F(KubectlTest, DryRunStoresNothing) {
  EXPECT_NE(ok({"create", "configmap", "dry", "--from-literal=a=1", "--dry-run=server"}).find("server dry run"),
            std::string::npos);
  EXPECT_NE(kn({"get", "cm", "dry"}).exit_code, 0);
}

TEST_F(KubectlTest, GenerateName) {
  std::string out = ok({"create", "-f", "-"},
                       "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\n");
  EXPECT_NE(out.find("configmap/gen-"), std::string::npos) << out;
}

TEST_F(KubectlTest, BadInputGetsUpstreamErrors) {
  // Unknown field under kubectl's default strict validation.
  auto r = kn({"apply", "-f", "-"},
              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndatta:\n  a: b\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown field \"datta\""), std::string::npos) << r.err;
  // Invalid name.
  r = kn({"create", "configmap", "Bad_Name"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Invalid value: \"Bad_Name\""), std::string::npos) << r.err;
  // Validation with field paths.
  r = kn({"apply", "-f", "-"}, std::string(kDeployment).replace(std::string(kDeployment).find("replicas: 2"), 11, "replicas: -1"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("spec.replicas"), std::string::npos) << r.err;
  // Selector that does not match the template.
  std::string mismatch = kDeployment;
  mismatch.replace(mismatch.find("matchLabels: {app: web}"), 23, "matchLabels: {app: other}");
  r = kn({"apply", "-f", "-"}, mismatch);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("selector"), std::string::npos) << r.err;
  // Nothing was stored.
  EXPECT_NE(kn({"get", "deploy", "web"}).exit_code, 0);
  // Malformed YAML never reaches the server but malformed JSON bodies do:
  r = k({"get", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps/nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("NotFound"), std::string::npos) << r.err;
}

// A Service asking for a cluster IP or node port that is taken (or out of range) gets
// upstream's 422: `Service "x" is invalid: <field>: ...` with the field as a cause.
TEST_F(KubectlTest, ServiceAllocationConflictsAreInvalid) {
  ok({"create", "service", "clusterip", "first", "--tcp=80"});
  std::string ip = json::parse(ok({"get", "svc", "first", "-o", "json"}))["spec"].value("clusterIP", "");
  ASSERT_FALSE(ip.empty());
  auto r = kn({"create", "service", "clusterip", "second", "--tcp=80", "--clusterip=" + ip});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Service \"second\" is invalid: spec.clusterIPs: Invalid value: []string{\"" + ip +
                       "\"}: failed to allocate IP " + ip + ": provided IP is already allocated"),
            std::string::npos) << r.err;
  r = kn({"create", "service", "clusterip", "outside", "--tcp=80", "--clusterip=192.168.0.5"});
  EXPECT_NE(r.err.find("Service \"outside\" is invalid: spec.clusterIPs: Invalid value: []string{\"192.168.0.5\"}: "
                       "failed to allocate IP 192.168.0.5: the provided IP (192.168.0.5) is not in the valid range"),
            std::string::npos) << r.err;

  // A taken node port on the second port: the path names that port, as a cause.
  ok({"create", "service", "nodeport", "np1", "--tcp=80", "--node-port=30080"});
  std::string two = "apiVersion: v1\nkind: Service\nmetadata: {name: np2}\nspec:\n  type: NodePort\n"
                    "  selector: {app: x}\n  ports:\n  - {name: a, port: 81}\n  - {name: b, port: 82, nodePort: 30080}\n";
  r = kn({"create", "-f", "-"}, two);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Service \"np2\" is invalid: spec.ports[1].nodePort: Invalid value: 30080: "
                       "provided port is already allocated"),
            std::string::npos) << r.err;
  r = kn({"create", "-f", "-", "-o", "json", "-v=8"}, two);
  // -v=8 logs the Status body with its quotes escaped.
  EXPECT_NE(r.err.find(R"(\"field\":\"spec.ports[1].nodePort\")"), std::string::npos) << r.err;
  EXPECT_NE(kn({"get", "svc", "np2"}).exit_code, 0) << "nothing stored";
  // The node port the failed create allocated for port a was given back: a Service can take it.
  ok({"create", "service", "nodeport", "np3", "--tcp=80"});
  // An update that asks for a taken port is refused the same way and keeps what it had.
  r = kn({"patch", "svc", "np3", "--type=json", "-p",
          R"([{"op":"replace","path":"/spec/ports/0/nodePort","value":30080}])"});
  EXPECT_NE(r.err.find("Service \"np3\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: "
                       "provided port is already allocated"),
            std::string::npos) << r.err;
}

// Raw bodies through `kubectl create --raw`: what a broken client could send.
TEST_F(KubectlTest, MalformedBodiesAreRejectedAndNothingIsStored) {
  std::string dir = makeTempDir("berth-e2e-raw-");
  auto post = [&](const std::string& body) {
    std::string f = dir + "/body";
    std::ofstream(f, std::ios::trunc) << body;
    return k({"create", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps", "-f", f});
  };
  auto r = post(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"broken")");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("BadRequest"), std::string::npos) << r.err;
  r = post(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"wrongkind"}})");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("does not match the expected API version"), std::string::npos) << r.err;
  r = post(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"typed"},"data":{"a":5}})");
  EXPECT_NE(r.exit_code, 0);
  r = post(std::string(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":")") +
           std::string(4 << 20, 'x') + R"("}})");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("too large"), std::string::npos) << r.err;
  r = post(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","name":"dup2"}})");
  EXPECT_EQ(r.exit_code, 0) << "duplicates only warn without fieldValidation=Strict: " << r.err;
  // None of the rejected bodies left anything behind, and the server still serves.
  // (kube-root-ca.crt is the root CA publisher's, present in every namespace.)
  std::string names = ok({"get", "configmaps", "-o", "name"});
  if (auto at = names.find("configmap/kube-root-ca.crt\n"); at != std::string::npos)
    names.erase(at, std::string("configmap/kube-root-ca.crt\n").size());
  EXPECT_EQ(names, "configmap/dup2\n");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// `kubectl autoscale` speaks autoscaling/v1 (as protobuf); the objects are stored as v2 and
// each version reads and writes them in its own shape.
TEST_F(KubectlTest, AutoscaleAndBothHpaVersions) {
  const std::string v1 = "horizontalpodautoscalers.v1.autoscaling";
  ok({"create", "deployment", "web", "--image=nginx:1"});
  ok({"autoscale", "deploy", "web", "--min=2", "--max=6", "--cpu-percent=70"});
  json stored = getJson("hpa/web");
  EXPECT_EQ(stored["apiVersion"], "autoscaling/v2");
  EXPECT_EQ(stored["spec"]["metrics"][0]["resource"]["name"], "cpu");
  EXPECT_EQ(stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 70);
  json old = getJson(v1 + "/web");
  EXPECT_EQ(old["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(old["spec"]["targetCPUUtilizationPercentage"], 70);
  EXPECT_FALSE(old["spec"].contains("metrics"));
  EXPECT_EQ(old["spec"]["minReplicas"], 2);

  // Patches of each type are written against the v1 shape.
  ok({"patch", v1, "web", "--type=merge", "-p", R"({"spec":{"targetCPUUtilizationPercentage":55}})"});
  ok({"patch", v1, "web", "-p", R"({"spec":{"maxReplicas":8}})"});
  ok({"patch", v1, "web", "--type=json", "-p", R"([{"op":"replace","path":"/spec/minReplicas","value":3}])"});
  stored = getJson("hpa/web");
  EXPECT_EQ(stored["spec"]["metrics"].size(), 1u) << stored.dump();
  EXPECT_EQ(stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 55);
  EXPECT_EQ(stored["spec"]["maxReplicas"], 8);
  EXPECT_EQ(stored["spec"]["minReplicas"], 3);
  auto bad = kn({"patch", v1, "web", "--type=merge", "-p", R"({"spec":{"maxReplicas":0}})"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("spec.maxReplicas"), std::string::npos) << bad.err;

  // What v1 cannot say rides in annotations, so a v1 round trip keeps a v2 object whole.
  ok({"apply", "-f", "-"}, R"(apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: mem}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  metrics:
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 100Mi}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 60}
)");
  json mem = getJson(v1 + "/mem");
  EXPECT_FALSE(mem["spec"].contains("targetCPUUtilizationPercentage"));
  EXPECT_TRUE(mem["metadata"]["annotations"].contains("autoscaling.alpha.kubernetes.io/metrics"));
  // Without its resourceVersion, so the HPA controller's status write in between is no conflict.
  mem["metadata"].erase("resourceVersion");
  ok({"replace", "-f", "-"}, mem.dump());
  json back = getJson("hpa/mem");
  ASSERT_EQ(back["spec"]["metrics"].size(), 1u) << back.dump();
  EXPECT_EQ(back["spec"]["metrics"][0]["resource"]["name"], "memory");
  EXPECT_EQ(back["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 60);
  EXPECT_FALSE(back["metadata"].value("annotations", json::object()).contains("autoscaling.alpha.kubernetes.io/metrics"));

  // A v1 manifest applies, and a v1 watch sends v1 objects.
  ok({"apply", "-f", "-"}, R"(apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: plain}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
  targetCPUUtilizationPercentage: 40
)");
  EXPECT_EQ(getJson("hpa/plain")["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 40);
  Child watch(server_->kubectlArgv({"-n", ns_, "get", v1, "-w", "-o", "json", "--output-watch-events"}),
              server_->kubectlEnv());
  ok({"patch", v1, "plain", "-p", R"({"spec":{"maxReplicas":5}})"});
  std::string seen;
  ASSERT_TRUE(watch.waitFor("\"maxReplicas\":5", std::chrono::seconds(20), &seen)) << seen;
  EXPECT_NE(seen.find("\"targetCPUUtilizationPercentage\":40"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("\"metrics\""), std::string::npos) << seen;
  watch.kill(SIGTERM);
  ok({"delete", v1, "plain"});
  EXPECT_NE(kn({"get", "hpa", "plain"}).exit_code, 0);
}

// A `kind: List` manifest is validated by kubectl itself against /openapi/v2 (the server does
// not say whether a List supports fieldValidation): what `get a b -o yaml` writes applies back,
// an unknown field in one item is refused before anything is sent, and editing several objects
// at once (an edited List) works.
TEST_F(KubectlTest, ListManifestsValidateAgainstOpenApiV2) {
  ok({"create", "configmap", "one", "--from-literal=a=b"});
  ok({"create", "deployment", "web", "--image=nginx:1"});
  json list = json::parse(ok({"get", "configmap/one", "deployment/web", "-o", "json"}));
  ASSERT_EQ(list["kind"], "List");
  for (json& item : list["items"]) item["metadata"].erase("resourceVersion");
  list["items"][0]["data"]["a"] = "c";
  std::string out = ok({"apply", "-f", "-"}, list.dump());
  EXPECT_NE(out.find("configmap/one configured"), std::string::npos) << out;
  EXPECT_EQ(ok({"get", "configmap", "one", "-o", "jsonpath={.data.a}"}), "c");

  list["items"][1]["spec"]["replicaz"] = 3;
  list["items"][1]["spec"]["template"]["spec"]["containers"][0]["imagez"] = "x";
  auto r = kn({"apply", "-f", "-"}, list.dump());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(
      r.err.find(
          R"(ValidationError(Deployment.spec): unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec)"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(R"(unknown field "imagez" in io.k8s.api.core.v1.Container)"),
            std::string::npos)
      << r.err;

  auto edit = server_->kubectlEnv();
  edit.push_back("KUBE_EDITOR=sed -i s/a:\\ c/a:\\ d/");
  CmdResult e =
      run(server_->kubectlArgv({"-n", ns_, "edit", "configmap/one", "deployment/web"}), "", edit);
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(ok({"get", "configmap", "one", "-o", "jsonpath={.data.a}"}), "d");

  // Both forms of the document are served; the protobuf one is what kubectl parsed above.
  json v2 = json::parse(ok({"get", "--raw", "/openapi/v2"}));
  EXPECT_EQ(v2["swagger"], "2.0");
  EXPECT_TRUE(v2["definitions"].contains("io.k8s.api.core.v1.ConfigMap"));
}

// kubectl certificate approve/deny: the conditions get upstream's timestamps; the legacy
// signer is not accepted through certificates.k8s.io/v1.
TEST_F(KubectlTest, CertificateApprovalStampsConditions) {
  std::string dir = server_->dataDir() + "/csr-test";  // removed with the server's data
  std::filesystem::create_directories(dir);
  CmdResult gen = run({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/key.pem",
                       "-subj", "/CN=jane/O=dev", "-out", dir + "/csr.pem"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  std::ifstream in(dir + "/csr.pem");
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CmdResult b64 = run({"base64", "-w0"}, pem);
  auto csr = [&](const std::string& name, const std::string& signer) {
    return json{{"apiVersion", "certificates.k8s.io/v1"},
                {"kind", "CertificateSigningRequest"},
                {"metadata", {{"name", name}}},
                {"spec",
                 {{"request", b64.out},
                  {"signerName", signer},
                  {"usages", {"client auth"}},
                  {"expirationSeconds", 3600}}}}
        .dump();
  };
  auto r = kn({"create", "-f", "-"}, csr("legacy-" + ns_, "kubernetes.io/legacy-unknown"));
  EXPECT_NE(r.err.find("the legacy signerName is not allowed via this API version"),
            std::string::npos)
      << r.err;
  const std::string name = "jane-" + ns_;
  ok({"create", "-f", "-"}, csr(name, "kubernetes.io/kube-apiserver-client"));
  ok({"certificate", "approve", name});
  json got = getJson("csr/" + name);
  ASSERT_EQ(got["status"]["conditions"].size(), 1u) << got.dump();
  const json& c = got["status"]["conditions"][0];
  EXPECT_EQ(c["type"], "Approved");
  EXPECT_TRUE(c["lastTransitionTime"].is_string()) << c.dump();
  EXPECT_TRUE(c["lastUpdateTime"].is_string()) << c.dump();
  ok({"delete", "csr", name});
}

// A pod deleted at once is still deleted gracefully, as upstream: marked (MODIFIED, grace 0),
// then removed, the DELETED carrying the mark.
TEST_F(KubectlTest, PodsDeletedAtOnceAreMarkedFirst) {
  ok({"run", "gone", "--image=busybox", "--restart=Never"});
  std::string rv = ok({"get", "pod", "gone", "-o", "jsonpath={.metadata.resourceVersion}"});
  Child watch(server_->kubectlArgv(
                  {"get", "--raw",
                   "/api/v1/namespaces/" + ns_ +
                       "/pods?watch=1&fieldSelector=metadata.name%3Dgone&resourceVersion=" + rv}),
              server_->kubectlEnv());
  ok({"delete", "pod", "gone", "--grace-period=0", "--force"});
  std::string seen;
  ASSERT_TRUE(watch.waitFor("DELETED", std::chrono::seconds(20), &seen)) << seen;
  watch.kill(SIGTERM);
  std::vector<json> events = watchEvents(seen);
  ASSERT_GE(events.size(), 2u) << seen;
  const json& marked = events[events.size() - 2];
  const json& deleted = events.back();
  EXPECT_EQ(marked["type"], "MODIFIED") << seen;
  EXPECT_EQ(marked["object"]["metadata"]["deletionGracePeriodSeconds"], 0) << seen;
  EXPECT_TRUE(marked["object"]["metadata"].contains("deletionTimestamp")) << seen;
  EXPECT_EQ(deleted["type"], "DELETED");
  EXPECT_EQ(deleted["object"]["metadata"]["deletionTimestamp"],
            marked["object"]["metadata"]["deletionTimestamp"]);
  EXPECT_NE(kn({"get", "pod", "gone"}).exit_code, 0);
}

// Status counters upstream leaves out at 0 (omitempty) are absent, whoever writes them.
TEST_F(KubectlTest, ZeroStatusCountersAreOmittedAsUpstream) {
  ok({"create", "deployment", "idle", "--image=nginx:1", "--replicas=0"});
  ok({"wait", "--for=jsonpath={.status.observedGeneration}=1", "deployment/idle", "--timeout=30s"});
  json st = getJson("deployment/idle")["status"];
  for (const char* f :
       {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"})
    EXPECT_FALSE(st.contains(f)) << f << " in " << st.dump();
  EXPECT_EQ(ok({"get", "deployment", "idle", "-o", "jsonpath={.status.availableReplicas}"}), "");
  // A status written with zeros by a client keeps the counters upstream always prints.
  ok({"patch", "deployment", "idle", "--subresource=status", "--type=merge", "-p",
      R"({"status":{"readyReplicas":0,"collisionCount":0}})"});
  st = getJson("deployment/idle")["status"];
  EXPECT_FALSE(st.contains("readyReplicas")) << st.dump();
  EXPECT_EQ(st["collisionCount"], 0) << st.dump();  // a pointer upstream: 0 is kept
  // (suspended: the job controller runs no pod, so nothing else sets active)
  ok({"apply", "-f", "-"}, R"(apiVersion: batch/v1
kind: Job
metadata: {name: quick}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
)");
  ok({"patch", "job", "quick", "--subresource=status", "--type=merge", "-p",
      R"({"status":{"active":0,"failed":0,"ready":0}})"});
  st = getJson("job/quick")["status"];
  EXPECT_FALSE(st.contains("active")) << st.dump();
  EXPECT_FALSE(st.contains("failed")) << st.dump();
  EXPECT_EQ(st["ready"], 0) << st.dump();  // a pointer upstream
}

// events.k8s.io/v1 and core/v1 Events are one store seen two ways, as upstream.
TEST_F(KubectlTest, EventsAreOneStoreInBothVersions) {
  const std::string v1 = "events.v1.events.k8s.io";
  ok({"apply", "-f", "-"}, R"(apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: started.1}
eventTime: "2026-11-29T10:00:00.000000Z"
reportingController: example.com/operator
reportingInstance: operator-0
action: Reconcile
reason: Started
type: Normal
note: reconciling web
regarding: {apiVersion: apps/v1, kind: Deployment, name: web}
)");
  json core = getJson("events/started.1");
  EXPECT_EQ(core["apiVersion"], "v1");
  EXPECT_EQ(core["message"], "reconciling web");
  EXPECT_EQ(core["involvedObject"]["name"], "web");
  EXPECT_EQ(core["reportingComponent"], "example.com/operator");
  std::string table = ok({"get", "events"});
  EXPECT_NE(table.find("reconciling web"), std::string::npos) << table;

  ok({"create", "-f", "-"}, R"({"apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "pulled.2"}, "reason": "Pulled", "type": "Normal",
    "message": "pulled nginx", "count": 3, "source": {"component": "kubelet"},
    "involvedObject": {"kind": "Pod", "name": "web-1"}})");
  json view = getJson(v1 + "/pulled.2");
  EXPECT_EQ(view["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(view["note"], "pulled nginx");
  EXPECT_EQ(view["regarding"]["name"], "web-1");
  EXPECT_EQ(view["deprecatedCount"], 3);
  EXPECT_EQ(view["deprecatedSource"]["component"], "kubelet");
  EXPECT_FALSE(view.contains("message")) << view.dump();
  // Both are listed either way; this version's field names select.
  std::string names = ok({"get", v1, "-o", "name", "--field-selector", "regarding.name=web-1"});
  EXPECT_EQ(names, "event.events.k8s.io/pulled.2\n");
  EXPECT_EQ(
      ok({"get", v1, "-o", "name", "--field-selector", "reportingController=example.com/operator"}),
      "event.events.k8s.io/started.1\n");
  // A patch through events.k8s.io reads and writes its shape.
  ok({"patch", v1, "pulled.2", "--type=merge", "-p", R"({"note":"pulled nginx:1"})"});
  EXPECT_EQ(getJson("events/pulled.2")["message"], "pulled nginx:1");

  // Writes through events.k8s.io/v1 keep its own rules; errors name its resource.
  auto r = kn({"create", "-f", "-"}, R"({"apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "bare"}, "type": "Normal"})");
  EXPECT_NE(r.err.find("eventTime: Required value"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reportingController: Required value"), std::string::npos) << r.err;
  EXPECT_NE(kn({"get", "event", "bare"}).exit_code, 0);
  r = kn({"get", v1, "missing"});
  EXPECT_NE(r.err.find(R"(events.events.k8s.io "missing" not found)"), std::string::npos) << r.err;
  ok({"delete", v1, "started.1"});
  EXPECT_NE(kn({"get", "event", "started.1"}).exit_code, 0);
}

TEST_F(KubectlTest, ExpiredContinueAndBadResourceVersion) {
  auto r = k({"get", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps?limit=1&continue=bm9wZQ"});
  EXPECT_NE(r.exit_code, 0);
  r = k({"get", "--raw", "/api/v1/namespaces/" + ns_ + "/configmaps?resourceVersion=abc"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(KubectlRestartTest, KillNineLosesNoAcknowledgedWrite) {
  std::string dir = makeTempDir("berth-e2e-kill-");
  std::vector<std::string> created;
  {
    Server s({}, dir);
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 20; ++i) {
      std::string name = "ack-" + std::to_string(i);
      auto r = s.kubectl({"create", "configmap", name, "--from-literal=i=" + std::to_string(i)});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      created.push_back(name);
    }
    s.kill(SIGKILL);
  }
  Server again({}, dir);
  ASSERT_TRUE(again.ok());
  auto r = again.kubectl({"get", "configmaps", "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& n : created) EXPECT_NE(r.out.find("configmap/" + n + "\n"), std::string::npos) << n;
  // Revisions continue after the restart: a new write gets a larger resourceVersion.
  auto before = json::parse(again.kubectl({"get", "cm", "ack-19", "-o", "json"}).out);
  again.kubectl({"label", "cm", "ack-19", "x=y"});
  auto after = json::parse(again.kubectl({"get", "cm", "ack-19", "-o", "json"}).out);
  EXPECT_GT(std::stoll(after["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(before["metadata"]["resourceVersion"].get<std::string>()));
  EXPECT_EQ(again.stop(), 0) << "berth server did not shut down cleanly";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Every namespace gets a "default" ServiceAccount; `kubectl create token` issues a token that
// authenticates as the service account until it expires or the account is deleted.
TEST_F(KubectlTest, ServiceAccountTokens) {
  EXPECT_EQ(k({"wait", "--for=create", "serviceaccount/default", "-n", ns_, "--timeout=30s"}).exit_code, 0);
  ok({"delete", "serviceaccount", "default"});
  EXPECT_EQ(k({"wait", "--for=create", "serviceaccount/default", "-n", ns_, "--timeout=30s"}).exit_code, 0)
      << "a deleted default service account comes back";

  ok({"create", "serviceaccount", "bot"});
  std::string token = trimmed(ok({"create", "token", "bot"}));
  ASSERT_EQ(std::count(token.begin(), token.end(), '.'), 2) << token;
  std::string ca = server_->dataDir() + "/pki/ca.crt";
  auto as = [&](const std::string& t, std::vector<std::string> args) {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig=/dev/null", "--server", server_->url(),
                                     "--certificate-authority", ca, "--token", t};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  };
  auto who = as(token, {"auth", "whoami", "-o", "json"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  json info = json::parse(who.out)["status"]["userInfo"];
  EXPECT_EQ(info["username"], "system:serviceaccount:" + ns_ + ":bot");
  EXPECT_NE(info["groups"].dump().find("system:serviceaccounts:" + ns_), std::string::npos) << info.dump();
  EXPECT_EQ(as(token, {"get", "ns", ns_}).exit_code, 0);

  json tr = json::parse(ok({"create", "token", "bot", "--duration=2h", "--audience=vault", "-o", "json"}));
  EXPECT_EQ(tr["spec"]["expirationSeconds"], 7200);
  EXPECT_EQ(tr["spec"]["audiences"], json::array({"vault"}));
  EXPECT_FALSE(tr["status"].value("expirationTimestamp", "").empty());

  auto shortLived = kn({"create", "token", "bot", "--duration=1m"});
  EXPECT_NE(shortLived.exit_code, 0);
  EXPECT_NE(shortLived.err.find("spec.expirationSeconds"), std::string::npos) << shortLived.err;
  auto missing = kn({"create", "token", "nobody"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;

  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_NE(as(forged, {"get", "ns", ns_}).exit_code, 0);
  ok({"delete", "serviceaccount", "bot"});
  auto gone = as(token, {"get", "ns", ns_});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_NE(gone.err.find("no longer exists"), std::string::npos) << gone.err;
}

// Every namespace gets ConfigMap kube-root-ca.crt holding the cluster CA (what kubectl itself
// trusts); the publisher puts back an edited or deleted one.
TEST_F(KubectlTest, RootCaConfigMapPublishedAndRestored) {
  std::ifstream f(server_->dataDir() + "/pki/ca.crt");
  std::string ca((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_NE(ca.find("BEGIN CERTIFICATE"), std::string::npos);
  ASSERT_EQ(k({"wait", "--for=create", "configmap/kube-root-ca.crt", "-n", ns_, "--timeout=30s"}).exit_code, 0);
  json cm = get({"configmap", "kube-root-ca.crt"});
  EXPECT_EQ(cm["data"], json({{"ca.crt", ca}}));
  std::string desc = cm["metadata"]["annotations"].value("kubernetes.io/description", "");
  EXPECT_NE(desc.find("verify the kube-apiserver"), std::string::npos) << cm.dump();

  auto restored = [&](const json& c) {
    return c.contains("data") && c["data"] == json({{"ca.crt", ca}}) &&
           c["metadata"].contains("annotations") &&
           c["metadata"]["annotations"].value("kubernetes.io/description", "") == desc;
  };
  ok({"patch", "configmap", "kube-root-ca.crt", "--type=merge", "-p",
      R"({"data":{"ca.crt":"forged","extra":"x"},"metadata":{"annotations":{"kubernetes.io/description":null}}})"});
  json last;
  EXPECT_TRUE(await("configmap/kube-root-ca.crt", {"configmap", "kube-root-ca.crt"}, restored, &last))
      << "an edited CA configmap is restored: " << last.dump();

  std::string uid = cm["metadata"]["uid"];
  ok({"delete", "configmap", "kube-root-ca.crt"});
  ASSERT_EQ(k({"wait", "--for=create", "configmap/kube-root-ca.crt", "-n", ns_, "--timeout=30s"}).exit_code, 0);
  json again = get({"configmap", "kube-root-ca.crt"});
  EXPECT_NE(again["metadata"].value("uid", ""), uid);
  EXPECT_TRUE(restored(again)) << again.dump();
}

TEST(KubectlAuthTest, TokensAndUnauthenticated) {
  std::string dir = makeTempDir("berth-e2e-auth-");
  {
    std::ofstream f(dir + "/tokens.csv");
    f << "s3cret-token,alice,1001,\"devs,ops\"\n";
  }
  Server s({"--token-auth-file", dir + "/tokens.csv"});
  ASSERT_TRUE(s.ok());
  std::string ca = s.dataDir() + "/pki/ca.crt";
  // A token user.
  auto r = run({"kubectl", "--server", s.url(), "--certificate-authority", ca, "--token", "s3cret-token",
                "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"},
               "", {"KUBECONFIG=/dev/null", "HOME=" + dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "alice");
  // A wrong token.
  r = run({"kubectl", "--server", s.url(), "--certificate-authority", ca, "--token", "wrong", "get", "ns"},
          "", {"KUBECONFIG=/dev/null", "HOME=" + dir});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("You must be logged in to the server"), std::string::npos) << r.err;
  // No credentials at all.
  r = run({"kubectl", "--server", s.url(), "--certificate-authority", ca, "get", "ns"}, "",
          {"KUBECONFIG=/dev/null", "HOME=" + dir});
  EXPECT_NE(r.exit_code, 0);
  // The admin certificate is CN=admin, O=system:masters.
  r = s.kubectl({"auth", "whoami", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json who = json::parse(r.out);
  EXPECT_EQ(who["status"]["userInfo"]["username"], "admin");
  EXPECT_NE(who["status"]["userInfo"]["groups"].dump().find("system:masters"), std::string::npos);
  EXPECT_EQ(s.kubectl({"auth", "can-i", "create", "pods"}).out, "yes\n");
  EXPECT_EQ(s.stop(), 0) << "berth server did not shut down cleanly";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace berth::e2e

namespace berth::e2e {
namespace {

class KubectlDeleteTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.ok()); }
  void TearDown() override { EXPECT_EQ(server_.stop(), 0) << "berth server did not shut down cleanly"; }
  // Creates configmap `owner` and `dep` owned by it; returns the owner's uid.
  std::string makeOwnerAndDependent(const std::string& ns) {
    EXPECT_EQ(server_.kubectl({"create", "ns", ns}).exit_code, 0);
    EXPECT_EQ(server_.kubectl({"-n", ns, "create", "configmap", "owner"}).exit_code, 0);
    auto r = server_.kubectl({"-n", ns, "get", "cm", "owner", "-o", "jsonpath={.metadata.uid}"});
    std::string uid = r.out;
    nlohmann::json dep = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                          {"metadata", {{"name", "dep"}, {"ownerReferences",
                                         {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", "owner"},
                                           {"uid", uid}, {"blockOwnerDeletion", true}}}}}}};
    r = server_.kubectl({"-n", ns, "apply", "-f", "-"}, dep.dump());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return uid;
  }
  Server server_;
};

TEST_F(KubectlDeleteTest, BackgroundGarbageCollectsDependents) {
  makeOwnerAndDependent("bg");
  ASSERT_EQ(server_.kubectl({"-n", "bg", "delete", "cm", "owner"}).exit_code, 0);
  auto r = server_.kubectl({"-n", "bg", "wait", "--for=delete", "cm/dep", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(KubectlDeleteTest, ForegroundDeletesDependentsFirst) {
  makeOwnerAndDependent("fg");
  auto r = server_.kubectl({"-n", "fg", "delete", "cm", "owner", "--cascade=foreground", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(server_.kubectl({"-n", "fg", "get", "cm", "dep"}).exit_code, 0);
  EXPECT_NE(server_.kubectl({"-n", "fg", "get", "cm", "owner"}).exit_code, 0);
}

TEST_F(KubectlDeleteTest, OrphanKeepsDependentsWithoutOwnerReference) {
  makeOwnerAndDependent("or");
  auto r = server_.kubectl({"-n", "or", "delete", "cm", "owner", "--cascade=orphan", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(server_.kubectl({"-n", "or", "get", "cm", "owner"}).exit_code, 0);
  r = server_.kubectl({"-n", "or", "get", "cm", "dep", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto dep = nlohmann::json::parse(r.out);
  EXPECT_FALSE(dep["metadata"].contains("ownerReferences") && !dep["metadata"]["ownerReferences"].empty())
      << dep.dump();
}

TEST_F(KubectlDeleteTest, DeletingANamespaceDeletesItsContents) {
  ASSERT_EQ(server_.kubectl({"create", "ns", "doomed"}).exit_code, 0);
  ASSERT_EQ(server_.kubectl({"-n", "doomed", "create", "configmap", "a"}).exit_code, 0);
  ASSERT_EQ(server_.kubectl({"-n", "doomed", "create", "secret", "generic", "b"}).exit_code, 0);
  auto r = server_.kubectl({"delete", "ns", "doomed", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(server_.kubectl({"get", "ns", "doomed"}).exit_code, 0);
  // Content cannot be created in a namespace that is gone.
  r = server_.kubectl({"-n", "doomed", "create", "configmap", "c"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace berth::e2e

namespace berth::e2e {
namespace {

// Workload controllers run in-process with the server. Without node agents pods stay Pending,
// so these check what the controllers create, not rollout completion.
TEST(KubectlWorkloadTest, DeploymentCreatesReplicaSetAndPods) {
  Server s;
  ASSERT_TRUE(s.ok());
  auto r = s.kubectl({"create", "deployment", "web", "--image=nginx:1.25", "--replicas=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=3", "deployment/web", "--timeout=60s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = s.kubectl({"get", "pods", "-l", "app=web", "-o", "name"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3) << r.out;
  auto rs = nlohmann::json::parse(s.kubectl({"get", "rs", "-l", "app=web", "-o", "json"}).out);
  ASSERT_EQ(rs["items"].size(), 1u);
  EXPECT_EQ(rs["items"][0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  EXPECT_TRUE(rs["items"][0]["spec"]["selector"]["matchLabels"].contains("pod-template-hash"));

  // Scaling goes through the scale subresource to the ReplicaSet and its pods.
  ASSERT_EQ(s.kubectl({"scale", "deployment", "web", "--replicas=5"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=5", "rs", "-l", "app=web", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A new template makes a second ReplicaSet with revision 2.
  ASSERT_EQ(s.kubectl({"set", "image", "deployment/web", "nginx=nginx:1.26"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}=2",
                 "deployment/web", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = s.kubectl({"rollout", "history", "deployment/web"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 "), std::string::npos) << r.out;

  // Deleting the deployment garbage-collects its ReplicaSets and pods.
  ASSERT_EQ(s.kubectl({"delete", "deployment", "web"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=delete", "pods", "-l", "app=web", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(s.kubectl({"get", "rs", "-l", "app=web", "-o", "name"}).out, "");
  EXPECT_EQ(s.stop(), 0) << "berth server did not shut down cleanly";
}

// A ReplicationController is managed as upstream's replication manager: its selector and
// labels default from the template, it creates and scales pods, and its pods go with it.
TEST(KubectlWorkloadTest, ReplicationControllerKeepsItsPods) {
  Server s;
  ASSERT_TRUE(s.ok());
  const char* rc = R"(apiVersion: v1
kind: ReplicationController
metadata: {name: legacy}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: c, image: nginx:1.25}]
)";
  auto r = s.kubectl({"apply", "-f", "-"}, rc);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=3", "rc/legacy", "--timeout=60s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto obj = nlohmann::json::parse(s.kubectl({"get", "rc", "legacy", "-o", "json"}).out);
  EXPECT_EQ(obj["spec"]["selector"], nlohmann::json({{"app", "legacy"}}));
  EXPECT_EQ(obj["metadata"]["labels"], nlohmann::json({{"app", "legacy"}}));
  auto pods =
      nlohmann::json::parse(s.kubectl({"get", "pods", "-l", "app=legacy", "-o", "json"}).out);
  ASSERT_EQ(pods["items"].size(), 3u);
  for (const auto& p : pods["items"]) {
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "ReplicationController");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["apiVersion"], "v1");
  }
  r = s.kubectl({"get", "rc", "-o", "wide"});
  EXPECT_NE(r.out.find("SELECTOR"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("app=legacy"), std::string::npos) << r.out;

  // Through the scale subresource, down to one pod.
  ASSERT_EQ(s.kubectl({"scale", "rc", "legacy", "--replicas=1"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=1", "rc/legacy", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A template whose labels the selector does not match is refused.
  r = s.kubectl({"create", "-f", "-"}, R"(apiVersion: v1
kind: ReplicationController
metadata: {name: mismatch}
spec:
  selector: {app: one}
  template:
    metadata: {labels: {app: two}}
    spec:
      containers: [{name: c, image: nginx:1.25}]
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("`selector` does not match template `labels`"), std::string::npos) << r.err;

  ASSERT_EQ(s.kubectl({"delete", "rc", "legacy"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=delete", "pods", "-l", "app=legacy", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(s.stop(), 0) << "berth server did not shut down cleanly";
}

// Controllers run only while the server holds the controller-manager Lease: another holder's
// valid lease stops them and is left alone; once released, the server takes it back.
TEST(KubectlLeaderElectionTest, ControllersFollowTheLease) {
  Server s({"--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s",
            "--leader-elect-retry-period=500ms"});
  ASSERT_TRUE(s.ok());
  std::string id;
  {
    std::ifstream in(s.dataDir() + "/controller-manager.identity");
    std::getline(in, id);
  }
  ASSERT_FALSE(id.empty());
  {
    Child watch(s.kubectlArgv({"get", "lease", "-n", "kube-system", "--watch", "-o",
                               "custom-columns=HOLDER:.spec.holderIdentity"}),
                s.kubectlEnv());
    ASSERT_TRUE(watch.waitFor(id, std::chrono::seconds(30)));
  }
  const std::vector<std::string> lease = {"-n", "kube-system", "lease/berth-controller-manager"};
  auto withLease = [&](std::vector<std::string> args) {
    args.insert(args.end(), lease.begin(), lease.end());
    return args;
  };
  auto r = s.kubectl(withLease({"patch", "--type=merge", "-p",
                                R"({"spec":{"holderIdentity":"intruder","leaseDurationSeconds":30}})"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The server must not write over a lease another candidate holds and renewed.
  r = s.kubectl(withLease({"wait", "--for=jsonpath={.spec.holderIdentity}=" + id, "--timeout=4s"}));
  EXPECT_NE(r.exit_code, 0) << "server took a valid lease from its holder";
  // Its controllers have stopped: a new Deployment gets no ReplicaSet.
  ASSERT_EQ(s.kubectl({"create", "deployment", "led", "--image=nginx", "--replicas=2"}).exit_code, 0);
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=2", "deployment/led", "--timeout=3s"});
  EXPECT_NE(r.exit_code, 0) << "controllers ran without the lease";
  // Released: the server takes the lease again (a transition) and its controllers catch up.
  r = s.kubectl(withLease({"patch", "--type=merge", "-p",
                           R"({"spec":{"holderIdentity":"","leaseDurationSeconds":1}})"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = s.kubectl(withLease({"wait", "--for=jsonpath={.spec.holderIdentity}=" + id, "--timeout=30s"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(s.kubectl(withLease({"get", "-o", "jsonpath={.spec.leaseTransitions}"})).out, "1");
  r = s.kubectl({"wait", "--for=jsonpath={.status.replicas}=2", "deployment/led", "--timeout=60s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A clean stop hands the lease back.
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace berth::e2e
