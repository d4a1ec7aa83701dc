// Table rows as kubectl prints them (pkg/printers/internalversion/printers.go).
#include "common/json_parse.h"
#include "tests/unit/kinds/test_util.h"

namespace berth::apiserver {
namespace {

using testing::at;
using testing::spec;
using Cells = std::vector<json>;

const TimePoint kNow = at("2024-05-01T12:00:00Z");

json withMeta(json obj, const char* name = "web") {
  obj["metadata"]["name"] = name;
  obj["metadata"]["creationTimestamp"] = "2024-05-01T11:00:00Z";
  return obj;
}

// A pod's cells, checked to be the same from the tree a list's Table builds through the kind's
// table_projection (the members the printer reads) as from the whole object.
Cells podCells(const json& pod) {
  const KindSpec& k = spec("", "v1", "Pod");
  json whole = withMeta(pod);
  Cells cells = k.cells(whole, kNow);
  EXPECT_NE(k.table_projection, nullptr);
  if (!k.table_projection) return cells;
  json projected;
  EXPECT_TRUE(parseJsonProjected(whole.dump(), *k.table_projection, &projected));
  EXPECT_EQ(k.cells(projected, kNow), cells) << "projected: " << projected.dump();
  EXPECT_EQ(k.row_conditions(projected), k.row_conditions(whole));
  EXPECT_LT(projected.dump().size(), whole.dump().size() + 1);
  return cells;
}

std::vector<std::string> columnNames(const KindSpec& k, bool wideOnly = false) {
  std::vector<std::string> out;
  for (const auto& c : k.columns) {
    if (!wideOnly || c.priority > 0) out.push_back(c.name);
  }
  return out;
}

TEST(PodTable, Columns) {
  EXPECT_EQ(columnNames(spec("", "v1", "Pod")),
            (std::vector<std::string>{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                      "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(columnNames(spec("", "v1", "Pod"), true),
            (std::vector<std::string>{"IP", "Node", "Nominated Node", "Readiness Gates"}));
  EXPECT_EQ(spec("", "v1", "Pod").columns[0].format, "name");
}

TEST(PodTable, Running) {
  json pod = json::parse(R"({
    "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx:1.25",
               "env": [{"name": "TRICKY", "value": "]} \" {["}], "ports": [{"containerPort": 80}]}],
             "volumes": [{"name": "data", "emptyDir": {}}], "tolerations": []},
    "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
               "conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0,
                                      "state": {"running": {"startedAt": "2024-05-01T11:00:05Z"}}}]}})");
  EXPECT_EQ(podCells(pod),
            (Cells{"web", "1/1", "Running", "0", "60m", "10.0.0.5", "node-1", "<none>", "<none>"}));
  EXPECT_TRUE(spec("", "v1", "Pod").row_conditions(pod).is_null());
}

TEST(PodTable, CrashLoopBackOffWithRecentRestart) {
  json pod = json::parse(R"({
    "spec": {"containers": [{"name": "app"}]},
    "status": {"phase": "Running",
               "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
                  "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                  "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                               "finishedAt": "2024-05-01T11:58:00Z"}}}]}})");
  Cells cells = podCells(pod);
  EXPECT_EQ(cells[1], "0/1");
  EXPECT_EQ(cells[2], "CrashLoopBackOff");
  EXPECT_EQ(cells[3], "3 (2m ago)");
}

TEST(PodTable, CompletedAndFailed) {
  json pod = json::parse(R"({
    "spec": {"containers": [{"name": "job"}]},
    "status": {"phase": "Succeeded",
               "containerStatuses": [{"name": "job", "ready": false, "restartCount": 0,
                  "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})");
  Cells cells = podCells(pod);
  EXPECT_EQ(cells[1], "0/1");
  EXPECT_EQ(cells[2], "Completed");
  EXPECT_EQ(cells[3], "0");
  json conds = spec("", "v1", "Pod").row_conditions(pod);
  ASSERT_TRUE(conds.is_array());
  EXPECT_EQ(conds[0]["type"], "Completed");
  EXPECT_EQ(conds[0]["status"], "True");

  json killed = json::parse(R"({
    "spec": {"containers": [{"name": "a"}]},
    "status": {"phase": "Failed",
               "containerStatuses": [{"name": "a", "state": {"terminated": {"exitCode": 137}}}]}})");
  EXPECT_EQ(podCells(killed)[2], "ExitCode:137");
  killed["status"]["containerStatuses"][0]["state"]["terminated"]["signal"] = 9;
  EXPECT_EQ(podCells(killed)[2], "Signal:9");
}

TEST(PodTable, InitContainers) {
  json pod = json::parse(R"({
    "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "app"}]},
    "status": {"phase": "Pending",
               "initContainerStatuses": [{"name": "init", "restartCount": 0,
                                          "state": {"running": {"startedAt": "2024-05-01T11:59:00Z"}}}],
               "containerStatuses": [{"name": "app", "restartCount": 0,
                                      "state": {"waiting": {"reason": "PodInitializing"}}}]}})");
  Cells cells = podCells(pod);
  EXPECT_EQ(cells[1], "0/1");
  EXPECT_EQ(cells[2], "Init:0/1");

  json crash = pod;
  crash["status"]["initContainerStatuses"][0]["state"] = {{"waiting", {{"reason", "CrashLoopBackOff"}}}};
  crash["status"]["initContainerStatuses"][0]["restartCount"] = 2;
  EXPECT_EQ(podCells(crash)[2], "Init:CrashLoopBackOff");
  EXPECT_EQ(podCells(crash)[3], "2");

  json failed = pod;
  failed["status"]["initContainerStatuses"][0]["state"] = {{"terminated", {{"exitCode", 3}}}};
  EXPECT_EQ(podCells(failed)[2], "Init:ExitCode:3");

  // A restartable init container (sidecar) counts towards READY's total.
  json sidecar = json::parse(R"({
    "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
             "containers": [{"name": "app"}]},
    "status": {"phase": "Running",
               "conditions": [{"type": "Initialized", "status": "True"}],
               "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true,
                                          "restartCount": 0, "state": {"running": {}}}],
               "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                      "state": {"running": {}}}]}})");
  Cells sc = podCells(sidecar);
  EXPECT_EQ(sc[1], "2/2");
  EXPECT_EQ(sc[2], "Running");
}

TEST(PodTable, TerminatingPendingAndGates) {
  json running = json::parse(R"({
    "metadata": {"deletionTimestamp": "2024-05-01T11:59:30Z"},
    "spec": {"containers": [{"name": "web"}]},
    "status": {"phase": "Running",
               "containerStatuses": [{"name": "web", "ready": true, "state": {"running": {}}}]}})");
  EXPECT_EQ(podCells(running)[2], "Terminating");

  json done = running;
  done["status"]["phase"] = "Succeeded";
  done["status"]["containerStatuses"][0]["state"] = {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}};
  EXPECT_EQ(podCells(done)[2], "Completed");

  json pending = json::parse(R"({"spec": {"containers": [{"name": "a"}, {"name": "b"}],
                                          "readinessGates": [{"conditionType": "x/ok"}, {"conditionType": "y/ok"}]},
                                 "status": {"phase": "Pending",
                                            "conditions": [{"type": "x/ok", "status": "True"}]}})");
  EXPECT_EQ(podCells(pending), (Cells{"web", "0/2", "Pending", "0", "60m", "<none>", "<none>",
                                      "<none>", "1/2"}));

  json evicted = json::parse(R"({"spec": {"containers": [{"name": "a"}]},
      "status": {"phase": "Failed", "reason": "Evicted"}})");
  EXPECT_EQ(podCells(evicted)[2], "Evicted");

  // Completed container beside a running one shows Running when the pod is Ready.
  json mixed = json::parse(R"({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
      "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
          {"name": "a", "ready": true, "state": {"running": {}}},
          {"name": "b", "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})");
  EXPECT_EQ(podCells(mixed)[2], "Running");
  EXPECT_EQ(podCells(mixed)[1], "1/2");
  mixed["status"]["conditions"][0]["status"] = "False";
  EXPECT_EQ(podCells(mixed)[2], "NotReady");
}

TEST(DeploymentTable, Cells) {
  json d = json::parse(R"({
    "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"},
                                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]}]},
             "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                                  {"name": "log", "image": "busybox"}]}}},
    "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}})");
  const KindSpec& k = spec("apps", "v1", "Deployment");
  EXPECT_EQ(columnNames(k), (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available",
                                                      "Age", "Containers", "Images", "Selector"}));
  EXPECT_EQ(k.cells(withMeta(d), kNow), (Cells{"web", "2/3", 3, 2, "60m", "web,log",
                                               "nginx:1.27,busybox", "app=web,tier in (be,fe)"}));
  EXPECT_EQ(k.cells(withMeta(json::object()), kNow),
            (Cells{"web", "0/0", 0, 0, "60m", "", "", "<none>"}));
}

TEST(WorkloadTables, ReplicaSetDaemonSetJob) {
  json rs = json::parse(R"({"spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}},
    "template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    "status": {"replicas": 3, "readyReplicas": 1}})");
  EXPECT_EQ(spec("apps", "v1", "ReplicaSet").cells(withMeta(rs), kNow),
            (Cells{"web", 3, 3, 1, "60m", "web", "nginx", "app=web,pod-template-hash=abc"}));

  const KindSpec& ds = spec("apps", "v1", "DaemonSet");
  EXPECT_EQ(columnNames(ds), (std::vector<std::string>{"Name", "Desired", "Current", "Ready",
                                                       "Up-to-date", "Available", "Node Selector",
                                                       "Age", "Containers", "Images", "Selector"}));
  json d = json::parse(R"({"spec": {"selector": {"matchLabels": {"app": "agent"}},
    "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                          "containers": [{"name": "agent", "image": "agent:1"}]}}},
    "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
               "updatedNumberScheduled": 3, "numberAvailable": 2}})");
  EXPECT_EQ(ds.cells(withMeta(d, "agent"), kNow),
            (Cells{"agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "60m", "agent", "agent:1",
                   "app=agent"}));

  const KindSpec& job = spec("batch", "v1", "Job");
  EXPECT_EQ(columnNames(job), (std::vector<std::string>{"Name", "Status", "Completions", "Duration",
                                                        "Age", "Containers", "Images", "Selector"}));
  json j = json::parse(R"({"spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
    "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
    "status": {"succeeded": 1, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
               "conditions": [{"type": "Complete", "status": "True"}]}})");
  EXPECT_EQ(job.cells(withMeta(j, "pi"), kNow),
            (Cells{"pi", "Complete", "1/1", "42s", "60m", "pi", "perl",
                   "batch.kubernetes.io/controller-uid=u"}));
  json running = json::parse(R"({"spec": {"parallelism": 3},
    "status": {"succeeded": 1, "startTime": "2024-05-01T11:55:00Z"}})");
  Cells rc = job.cells(withMeta(running, "p"), kNow);
  EXPECT_EQ(rc[1], "Running");
  EXPECT_EQ(rc[2], "1/1 of 3");
  EXPECT_EQ(rc[3], "5m");
  running["status"]["conditions"] = json::parse(R"([{"type": "Failed", "status": "True"}])");
  EXPECT_EQ(job.cells(withMeta(running, "p"), kNow)[1], "Failed");
}

TEST(ServiceTable, Cells) {
  const KindSpec& k = spec("", "v1", "Service");
  EXPECT_EQ(columnNames(k), (std::vector<std::string>{"Name", "Type", "Cluster-IP", "External-IP",
                                                      "Port(s)", "Age", "Selector"}));
  json np = json::parse(R"({"spec": {"type": "NodePort", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
    "selector": {"app": "web"},
    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}})");
  EXPECT_EQ(k.cells(withMeta(np), kNow),
            (Cells{"web", "NodePort", "10.96.0.20", "<none>", "80:30080/TCP,53/UDP", "60m", "app=web"}));

  json lb = json::parse(R"({"spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.21"],
    "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}, "status": {"loadBalancer": {}}})");
  EXPECT_EQ(k.cells(withMeta(lb), kNow)[3], "<pending>");
  lb["status"]["loadBalancer"]["ingress"] = json::parse(R"([{"ip": "192.0.2.10"}, {"hostname": "lb.local"}])");
  EXPECT_EQ(k.cells(withMeta(lb), kNow)[3], "192.0.2.10,lb.local");

  json en = json::parse(R"({"spec": {"type": "ExternalName", "externalName": "db.example.com"}})");
  EXPECT_EQ(k.cells(withMeta(en), kNow),
            (Cells{"web", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"}));

  json headless = json::parse(R"({"spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"],
    "externalIPs": ["198.51.100.1"]}})");
  Cells hc = k.cells(withMeta(headless), kNow);
  EXPECT_EQ(hc[2], "None");
  EXPECT_EQ(hc[3], "198.51.100.1");
}

TEST(NodeTable, Cells) {
  const KindSpec& k = spec("", "v1", "Node");
  json node = json::parse(R"({
    "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "",
                            "kubernetes.io/hostname": "n1"}},
    "spec": {"unschedulable": true},
    "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
               "addresses": [{"type": "InternalIP", "address": "10.0.1.5"}, {"type": "Hostname", "address": "n1"}],
               "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Amazon Linux 2023",
                            "kernelVersion": "6.1.0", "containerRuntimeVersion": ""}}})");
  EXPECT_EQ(k.cells(withMeta(node, "n1"), kNow),
            (Cells{"n1", "Ready,SchedulingDisabled", "control-plane,worker", "60m", "v1.32.0",
                   "10.0.1.5", "<none>", "Amazon Linux 2023", "6.1.0", "<unknown>"}));
  node["status"]["conditions"][1]["status"] = "Unknown";
  node["spec"]["unschedulable"] = false;
  node["metadata"]["labels"] = {{"kubernetes.io/role", "edge"}};
  Cells c = k.cells(withMeta(node, "n1"), kNow);
  EXPECT_EQ(c[1], "NotReady");
  EXPECT_EQ(c[2], "edge");
  Cells bare = k.cells(withMeta(json::object(), "n2"), kNow);
  EXPECT_EQ(bare[1], "Unknown");
  EXPECT_EQ(bare[2], "<none>");
}

TEST(EventTable, CoreAndEventsV1) {
  json ev = json::parse(R"({
    "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
    "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image  ",
    "source": {"component": "kubelet", "host": "n1"},
    "firstTimestamp": "2024-05-01T11:50:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 4})");
  const KindSpec& k = spec("", "v1", "Event");
  EXPECT_EQ(columnNames(k), (std::vector<std::string>{"Last Seen", "Type", "Reason", "Object",
                                                      "Subobject", "Source", "Message",
                                                      "First Seen", "Count", "Name"}));
  EXPECT_EQ(k.cells(withMeta(ev, "web-1.17c"), kNow),
            (Cells{"2m", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, n1",
                   "Successfully pulled image", "10m", 4, "web-1.17c"}));

  json v1 = json::parse(R"({
    "regarding": {"kind": "Node", "name": "n1"}, "reason": "NodeReady", "type": "Normal",
    "note": "Node n1 status is now: NodeReady", "reportingController": "kubelet",
    "reportingInstance": "n1", "eventTime": "2024-05-01T11:59:00.000000Z"})");
  EXPECT_EQ(spec("events.k8s.io", "v1", "Event").cells(withMeta(v1, "n1.1"), kNow),
            (Cells{"60s", "Normal", "NodeReady", "node/n1", "", "kubelet, n1",
                   "Node n1 status is now: NodeReady", "60s", 1, "n1.1"}));
}

TEST(SmallTables, ConfigSecretsAccountsEndpoints) {
  EXPECT_EQ(spec("", "v1", "ConfigMap").cells(withMeta(json{{"data", {{"a", "1"}, {"b", "2"}}},
                                                            {"binaryData", {{"c", "AA=="}}}}, "cfg"), kNow),
            (Cells{"cfg", 3, "60m"}));
  EXPECT_EQ(spec("", "v1", "Secret").cells(withMeta(json{{"type", "Opaque"}, {"data", {{"a", "eA=="}}}}, "s"), kNow),
            (Cells{"s", "Opaque", 1, "60m"}));
  EXPECT_EQ(spec("", "v1", "ServiceAccount").cells(withMeta(json::object(), "default"), kNow),
            (Cells{"default", 0, "60m"}));
  EXPECT_EQ(spec("", "v1", "Namespace").cells(withMeta(json{{"status", {{"phase", "Active"}}}}, "default"), kNow),
            (Cells{"default", "Active", "60m"}));

  json ep = json::parse(R"({"subsets": [
    {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]},
    {"addresses": [{"ip": "10.0.0.3"}, {"ip": "10.0.0.4"}], "ports": [{"port": 80}]}]})");
  EXPECT_EQ(spec("", "v1", "Endpoints").cells(withMeta(ep), kNow),
            (Cells{"web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "60m"}));
  EXPECT_EQ(spec("", "v1", "Endpoints").cells(withMeta(json::object()), kNow)[1], "<none>");

  json slice = json::parse(R"({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "metrics"}],
    "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]})");
  EXPECT_EQ(spec("discovery.k8s.io", "v1", "EndpointSlice").cells(withMeta(slice, "web-abc"), kNow),
            (Cells{"web-abc", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2", "60m"}));
}

TEST(SmallTables, LeasePdbHpaCsr) {
  EXPECT_EQ(spec("coordination.k8s.io", "v1", "Lease")
                .cells(withMeta(json{{"spec", {{"holderIdentity", "n1"}}}}, "n1"), kNow),
            (Cells{"n1", "n1", "60m"}));
  EXPECT_EQ(spec("policy", "v1", "PodDisruptionBudget")
                .cells(withMeta(json::parse(R"({"spec": {"minAvailable": "50%"},
                                                "status": {"disruptionsAllowed": 1}})")), kNow),
            (Cells{"web", "50%", "N/A", 1, "60m"}));
  json hpa = json::parse(R"({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
      "minReplicas": 2, "maxReplicas": 10,
      "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                  {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "512Mi"}}},
                  {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}]},
    "status": {"currentReplicas": 3,
               "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 45}}}]}})");
  EXPECT_EQ(spec("autoscaling", "v2", "HorizontalPodAutoscaler").cells(withMeta(hpa), kNow),
            (Cells{"web", "Deployment/web", "cpu: 45%/80%, memory: <unknown>/512Mi + 1 more...",
                   "2", 10, 3, "60m"}));
  json csr = json::parse(R"({"spec": {"signerName": "kubernetes.io/kube-apiserver-client",
      "username": "alice", "expirationSeconds": 86400},
    "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "Y2VydA=="}})");
  EXPECT_EQ(spec("certificates.k8s.io", "v1", "CertificateSigningRequest").cells(withMeta(csr, "csr-1"), kNow),
            (Cells{"csr-1", "60m", "kubernetes.io/kube-apiserver-client", "alice", "24h",
                   "Approved,Issued"}));
}

TEST(BerthTables, NodeGroupAndFargateProfile) {
  const KindSpec& ng = spec("berth.dev", "v1alpha1", "NodeGroup");
  EXPECT_EQ(columnNames(ng), (std::vector<std::string>{"Name", "Type", "Capacity-Type",
                                                       "Instance-Types", "Desired", "Min", "Max",
                                                       "Ready", "Status", "Age"}));
  json group = json::parse(R"({"spec": {"type": "managed", "capacityType": "SPOT",
      "instanceTypes": ["m6i.large", "m5.large"], "scaling": {"minSize": 1, "maxSize": 5, "desiredSize": 3}},
    "status": {"replicas": 3, "readyReplicas": 2, "phase": "Active"}})");
  EXPECT_EQ(ng.cells(withMeta(group, "workers"), kNow),
            (Cells{"workers", "managed", "SPOT", "m6i.large,m5.large", 3, 1, 5, "2/3", "Active", "60m"}));

  const KindSpec& fp = spec("berth.dev", "v1alpha1", "FargateProfile");
  json prof = json::parse(R"({"spec": {"selectors": [{"namespace": "jobs"},
      {"namespace": "reports", "labels": {"runtime": "serverless"}}]}, "status": {"phase": "Active"}})");
  EXPECT_EQ(fp.cells(withMeta(prof, "batch"), kNow),
            (Cells{"batch", "jobs,reports(runtime=serverless)", "Active", "60m"}));
}

}  // namespace
}  // namespace berth::apiserver
