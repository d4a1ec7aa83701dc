// End-to-end: the workload controllers (endpoints, endpointslice, daemonset, job) against a
// real `berth server`, driven by the real kubectl. No node agent runs here, so the tests write
// what a kubelet would: pod status (phase, podIP, Ready) through the status subresource.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <set>

#include "tests/e2e/server_test.h"

namespace berth::e2e {
namespace {

using json = nlohmann::json;
using std::chrono::seconds;

class WorkloadsTest : public ServerTest {
 protected:
  WorkloadsTest() : ServerTest("w") {}
  // Lists `what` again each time a watch on it reports an event, until `pred` holds on the
  // items; the watch starts before the first listing, so no change is missed.
  bool await(const std::vector<std::string>& what, const std::function<bool(const json&)>& pred,
             json* last = nullptr, seconds timeout = seconds(30)) {
    return watchUntil(what, [&] {
      json items = list(what);
      if (last) *last = items;
      return pred(items);
    }, timeout);
  }
  // What a kubelet would report for a pod.
  void setPodStatus(const std::string& pod, const std::string& phase, const std::string& ip,
                    bool ready) {
    json status = {{"phase", phase},
                   {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}};
    if (!ip.empty()) {
      status["podIP"] = ip;
      status["podIPs"] = {{{"ip", ip}}};
    }
    ok({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p",
        json({{"status", status}}).dump()});
  }
  std::string nodeName(const std::string& n) { return ns_ + "-" + n; }
};

// ---- Endpoints and EndpointSlices ----

const char* kService = R"(apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: 9100}
)";

std::string podYaml(const std::string& name, const std::string& app, int http_port) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {app: " + app +
         "}}\nspec:\n  containers:\n  - name: c\n    image: nginx\n    ports: [{name: http, "
         "containerPort: " + std::to_string(http_port) + "}]\n";
}

// The Endpoints "web" as {ready ips}, {not-ready ips}, or false when absent.
bool endpointIps(const json& items, std::set<std::string>* ready, std::set<std::string>* not_ready,
                 std::set<int>* ports = nullptr) {
  if (items.size() != 1) return false;
  ready->clear();
  not_ready->clear();
  for (const auto& ss : items[0].value("subsets", json::array())) {
    for (const auto& a : ss.value("addresses", json::array())) ready->insert(a["ip"].get<std::string>());
    for (const auto& a : ss.value("notReadyAddresses", json::array()))
      not_ready->insert(a["ip"].get<std::string>());
    if (ports)
      for (const auto& p : ss.value("ports", json::array())) ports->insert(p["port"].get<int>());
  }
  return true;
}

// Pod name -> conditions.ready over every slice.
std::map<std::string, bool> sliceReadiness(const json& slices) {
  std::map<std::string, bool> out;
  for (const auto& s : slices)
    for (const auto& e : s.value("endpoints", json::array()))
      out[e["targetRef"]["name"].get<std::string>()] = e["conditions"]["ready"].get<bool>();
  return out;
}

TEST_F(WorkloadsTest, ServiceEndpointsFollowPods) {
  ok({"apply", "-f", "-"}, kService);
  ok({"apply", "-f", "-"}, podYaml("p1", "web", 8080));
  ok({"apply", "-f", "-"}, podYaml("p2", "web", 8080));
  ok({"apply", "-f", "-"}, podYaml("other", "db", 8080));
  setPodStatus("p1", "Running", "10.244.1.1", true);
  setPodStatus("p2", "Running", "10.244.1.2", true);
  setPodStatus("other", "Running", "10.244.1.3", true);

  std::set<std::string> ready, not_ready;
  std::set<int> ports;
  json last;
  std::vector<std::string> eps = {"endpoints", "--field-selector=metadata.name=web"};
  std::vector<std::string> slices = {"endpointslices", "-l", "kubernetes.io/service-name=web"};
  ASSERT_TRUE(await(eps, [&](const json& items) {
    return endpointIps(items, &ready, &not_ready) &&
           ready == std::set<std::string>{"10.244.1.1", "10.244.1.2"} && not_ready.empty();
  }, &last)) << last.dump();
  ports.clear();
  endpointIps(last, &ready, &not_ready, &ports);
  EXPECT_EQ(ports, (std::set<int>{8080, 9100}));  // the named targetPort resolved
  ASSERT_TRUE(await(slices, [&](const json& items) {
    return sliceReadiness(items) == std::map<std::string, bool>{{"p1", true}, {"p2", true}};
  }, &last)) << last.dump();
  for (const auto& s : last) {
    EXPECT_EQ(s["addressType"], "IPv4");
    EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
              "endpointslice-controller.k8s.io");
    EXPECT_EQ(s["metadata"]["ownerReferences"][0]["kind"], "Service");
    EXPECT_EQ(s["ports"].size(), 2u);
  }

  // p2 turns unready.
  setPodStatus("p2", "Running", "10.244.1.2", false);
  ASSERT_TRUE(await(eps, [&](const json& items) {
    return endpointIps(items, &ready, &not_ready) && ready == std::set<std::string>{"10.244.1.1"} &&
           not_ready == std::set<std::string>{"10.244.1.2"};
  }, &last)) << last.dump();
  ASSERT_TRUE(await(slices, [&](const json& items) {
    return sliceReadiness(items) == std::map<std::string, bool>{{"p1", true}, {"p2", false}};
  }, &last)) << last.dump();

  // p1 goes away.
  ok({"delete", "pod", "p1", "--grace-period=0", "--force"});
  ASSERT_TRUE(await(eps, [&](const json& items) {
    return endpointIps(items, &ready, &not_ready) && ready.empty() &&
           not_ready == std::set<std::string>{"10.244.1.2"};
  }, &last)) << last.dump();
  ASSERT_TRUE(await(slices, [&](const json& items) {
    return sliceReadiness(items) == std::map<std::string, bool>{{"p2", false}};
  }, &last)) << last.dump();
}

TEST_F(WorkloadsTest, ServiceWithoutSelectorKeepsItsOwnEndpoints) {
  ok({"apply", "-f", "-"}, R"(apiVersion: v1
kind: Service
metadata: {name: external}
spec:
  ports: [{port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: external}
subsets:
- addresses: [{ip: 192.0.2.10}]
  ports: [{port: 80}]
)");
  // A Service with a selector created afterwards gets its Endpoints: by then the controller
  // has long seen "external" and must have left it as the user wrote it.
  ok({"apply", "-f", "-"}, kService);
  json last;
  ASSERT_TRUE(await({"endpoints", "--field-selector=metadata.name=web"},
                    [](const json& items) { return items.size() == 1; }, &last));
  json ext = json::parse(ok({"get", "endpoints", "external", "-o", "json"}));
  EXPECT_EQ(ext["subsets"][0]["addresses"][0]["ip"], "192.0.2.10");
  EXPECT_EQ(list({"endpointslices", "-l", "kubernetes.io/service-name=external"}).size(), 0u);
}

// ---- DaemonSet ----

const char* kDaemonSet = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: busybox:1.36}]
)";

std::string nodeYaml(const std::string& name, const std::string& extra_spec = "") {
  return "apiVersion: v1\nkind: Node\nmetadata: {name: " + name + "}\n" +
         (extra_spec.empty() ? "" : "spec:\n" + extra_spec);
}

// The node each DaemonSet pod is for (bound, or pinned by node affinity).
std::string podNode(const json& pod) {
  std::string n = pod["spec"].value("nodeName", "");
  if (!n.empty()) return n;
  return pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0];
}

std::multiset<std::string> podNodes(const json& pods) {
  std::multiset<std::string> out;
  for (const auto& p : pods)
    if (!p["metadata"].contains("deletionTimestamp")) out.insert(podNode(p));
  return out;
}

TEST_F(WorkloadsTest, DaemonSetFollowsNodes) {
  std::string n1 = nodeName("n1"), n2 = nodeName("n2"), n3 = nodeName("tainted"), n4 = nodeName("n4");
  ok({"apply", "-f", "-"}, nodeYaml(n1));
  ok({"apply", "-f", "-"}, nodeYaml(n2));
  ok({"apply", "-f", "-"},
     nodeYaml(n3, "  taints: [{key: dedicated, value: db, effect: NoSchedule}]\n"));
  ok({"apply", "-f", "-"}, kDaemonSet);
  std::vector<std::string> pods = {"pods", "-l", "app=agent"};
  json last;
  // Other tests' nodes may exist too: only this test's matter.
  auto mine = [&](const json& items) {
    std::multiset<std::string> out;
    for (const auto& n : podNodes(items))
      if (n.rfind(ns_ + "-", 0) == 0) out.insert(n);
    return out;
  };
  ASSERT_TRUE(await(pods, [&](const json& items) {
    return mine(items) == std::multiset<std::string>{n1, n2};
  }, &last)) << last.dump();
  for (const auto& p : last) {
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
    EXPECT_FALSE(p["metadata"]["labels"].value("controller-revision-hash", "").empty());
  }

  ok({"apply", "-f", "-"}, nodeYaml(n4));
  ASSERT_TRUE(await(pods, [&](const json& items) {
    return mine(items) == std::multiset<std::string>{n1, n2, n4};
  }, &last)) << last.dump();

  std::string on_n1;
  for (const auto& p : last)
    if (podNode(p) == n1) on_n1 = p["metadata"]["name"];
  ASSERT_FALSE(on_n1.empty());
  ok({"delete", "node", n1});
  auto r = server_->kubectl({"-n", ns_, "wait", "--for=delete", "pod/" + on_n1, "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(await(pods, [&](const json& items) {
    return mine(items) == std::multiset<std::string>{n2, n4};
  }, &last)) << last.dump();

  // A node that turns Fargate loses its daemon pod.
  ok({"label", "node", n4, "eks.amazonaws.com/compute-type=fargate"});
  ASSERT_TRUE(await(pods, [&](const json& items) {
    return mine(items) == std::multiset<std::string>{n2};
  }, &last)) << last.dump();

  for (const auto& n : {n2, n3, n4}) ok({"delete", "node", n});
}

// Each template of a DaemonSet is kept as a ControllerRevision: kubectl rollout history lists
// them and rollout undo goes back to the previous one.
TEST_F(WorkloadsTest, DaemonSetRolloutHistoryAndUndo) {
  ok({"apply", "-f", "-"}, kDaemonSet);
  auto image = [&] {
    return ok({"get", "ds", "agent", "-o", "jsonpath={.spec.template.spec.containers[0].image}"});
  };
  auto revisions = [&] {
    std::vector<std::string> out;
    for (const auto& r : list({"controllerrevisions", "-l", "app=agent"}))
      out.push_back(std::to_string(r.value("revision", 0)) + ":" +
                    r["data"]["spec"]["template"]["spec"]["containers"][0].value("image", ""));
    std::sort(out.begin(), out.end());
    return out;
  };
  json last;
  ASSERT_TRUE(await({"controllerrevisions"}, [](const json& items) { return items.size() == 1; }, &last))
      << last.dump();
  ok({"set", "image", "ds/agent", "c=busybox:1.37"});
  ASSERT_TRUE(await({"controllerrevisions"}, [](const json& items) { return items.size() == 2; }, &last))
      << last.dump();
  EXPECT_EQ(revisions(), (std::vector<std::string>{"1:busybox:1.36", "2:busybox:1.37"}));
  std::string history = ok({"rollout", "history", "ds/agent"});
  EXPECT_NE(history.find("REVISION"), std::string::npos) << history;
  EXPECT_NE(history.find("\n1 "), std::string::npos) << history;
  EXPECT_NE(history.find("\n2 "), std::string::npos) << history;
  EXPECT_NE(ok({"rollout", "history", "ds/agent", "--revision=1"}).find("busybox:1.36"), std::string::npos);

  ok({"rollout", "undo", "ds/agent"});
  EXPECT_EQ(image(), "busybox:1.36");
  // The old template is the newest revision now.
  ASSERT_TRUE(await({"controllerrevisions"}, [&](const json&) {
    return revisions() == std::vector<std::string>{"2:busybox:1.37", "3:busybox:1.36"};
  }, &last)) << json(revisions()).dump();
  ok({"delete", "ds", "agent"});
}

// maxSurge: each node gets its new pod while the old one still runs, at most maxSurge nodes at a
// time, and the old pod goes only once its replacement is available; kubectl rollout status
// follows it to the end. maxSurge with a non-zero maxUnavailable is refused as upstream.
TEST_F(WorkloadsTest, DaemonSetSurgeRollingUpdate) {
  std::string n1 = nodeName("s1"), n2 = nodeName("s2");
  for (const auto& n : {n1, n2})
    ok({"apply", "-f", "-"}, "apiVersion: v1\nkind: Node\nmetadata: {name: " + n +
                                  ", labels: {surge: " + ns_ + "}}\n");
  std::string ds = std::string(kDaemonSet) + "      nodeSelector: {surge: " + ns_ + "}\n" +
                   "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, "
                   "maxUnavailable: UNAVAILABLE}\n";
  auto with = [&](const std::string& unavailable) {
    std::string y = ds;
    y.replace(y.find("UNAVAILABLE"), 11, unavailable);
    return y;
  };
  auto bad = server_->kubectl({"-n", ns_, "apply", "-f", "-"}, with("1"));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set "
                         "when maxUnavailable is non-zero"), std::string::npos) << bad.err;
  ok({"apply", "-f", "-"}, with("0"));

  std::vector<std::string> pods = {"pods", "-l", "app=agent"};
  auto live = [](const json& items) {
    std::vector<json> out;
    for (const auto& p : items)
      if (!p["metadata"].contains("deletionTimestamp")) out.push_back(p);
    return out;
  };
  auto hashOf = [](const json& p) { return p["metadata"]["labels"].value("controller-revision-hash", ""); };
  json last;
  ASSERT_TRUE(await(pods, [&](const json& items) { return live(items).size() == 2; }, &last)) << last.dump();
  const std::string old_hash = hashOf(last[0]);
  std::map<std::string, std::string> old_on;  // node -> old pod
  for (const auto& p : live(last)) {
    old_on[podNode(p)] = p["metadata"]["name"];
    setPodStatus(p["metadata"]["name"], "Running", "", true);
  }
  ASSERT_EQ(old_on.size(), 2u);
  auto r = server_->kubectl({"-n", ns_, "rollout", "status", "ds/agent", "--timeout=30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  ok({"set", "image", "ds/agent", "c=busybox:1.37"});
  Child status(server_->kubectlArgv({"-n", ns_, "rollout", "status", "ds/agent", "--timeout=90s"}),
               server_->kubectlEnv());
  // Splits the live pods into old and new by revision.
  auto split = [&](const json& items, std::vector<json>* olds, std::vector<json>* news) {
    olds->clear();
    news->clear();
    for (const auto& p : live(items)) (hashOf(p) == old_hash ? olds : news)->push_back(p);
  };
  std::vector<json> olds, news;
  ASSERT_TRUE(await(pods, [&](const json& items) {
    split(items, &olds, &news);
    return !news.empty();
  }, &last)) << last.dump();
  // One surge pod beside both old pods: nothing was removed before its replacement runs.
  ASSERT_EQ(news.size(), 1u) << last.dump();
  EXPECT_EQ(olds.size(), 2u) << last.dump();
  std::string first_node = podNode(news[0]);
  std::string other_node = first_node == n1 ? n2 : n1;
  setPodStatus(news[0]["metadata"]["name"], "Running", "", true);

  // The replaced node's old pod goes; the other node gets its surge pod while its old one stays.
  ASSERT_TRUE(await(pods, [&](const json& items) {
    split(items, &olds, &news);
    return olds.size() == 1 && news.size() == 2;
  }, &last)) << last.dump();
  EXPECT_EQ(olds[0]["metadata"]["name"], old_on[other_node]);
  for (const auto& p : news)
    if (podNode(p) == other_node) setPodStatus(p["metadata"]["name"], "Running", "", true);

  std::string seen;
  EXPECT_TRUE(status.waitFor("successfully rolled out", std::chrono::seconds(60), &seen)) << seen;
  EXPECT_EQ(status.wait(), 0);
  ASSERT_TRUE(await(pods, [&](const json& items) {
    split(items, &olds, &news);
    return olds.empty() && news.size() == 2;
  }, &last)) << last.dump();
  ok({"delete", "ds", "agent"});
  for (const auto& n : {n1, n2}) ok({"delete", "node", n});
}

// ---- Job ----

std::string jobYaml(const std::string& name, int completions, int parallelism, int backoff_limit) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata: {name: " + name + "}\nspec:\n  completions: " +
         std::to_string(completions) + "\n  parallelism: " + std::to_string(parallelism) +
         "\n  backoffLimit: " + std::to_string(backoff_limit) +
         "\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
}

std::vector<std::string> activePods(const json& pods) {
  std::vector<std::string> out;
  for (const auto& p : pods) {
    std::string phase = p.contains("status") ? p["status"].value("phase", "") : "";
    if (phase != "Succeeded" && phase != "Failed" && !p["metadata"].contains("deletionTimestamp"))
      out.push_back(p["metadata"]["name"]);
  }
  return out;
}

TEST_F(WorkloadsTest, JobRunsToCompletions) {
  ok({"apply", "-f", "-"}, jobYaml("batch", 3, 2, 6));
  std::vector<std::string> pods = {"pods", "-l", "batch.kubernetes.io/job-name=batch"};
  json last;
  ASSERT_TRUE(await(pods, [](const json& items) { return activePods(items).size() == 2; }, &last))
      << last.dump();
  for (const auto& p : activePods(last)) setPodStatus(p, "Succeeded", "", false);
  // Two done, one to go: exactly one more pod.
  ASSERT_TRUE(await(pods, [](const json& items) {
    return items.size() == 3 && activePods(items).size() == 1;
  }, &last)) << last.dump();
  for (const auto& p : activePods(last)) setPodStatus(p, "Succeeded", "", false);
  auto r = server_->kubectl({"-n", ns_, "wait", "--for=condition=complete", "job/batch", "--timeout=30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json job = json::parse(ok({"get", "job", "batch", "-o", "json"}));
  EXPECT_EQ(job["status"]["succeeded"], 3);
  EXPECT_FALSE(job["status"].value("completionTime", "").empty());
  EXPECT_EQ(list(pods).size(), 3u);
  EXPECT_NE(ok({"get", "job", "batch"}).find("3/3"), std::string::npos);
  // The job controller told what it did, as kubectl describe shows.
  ASSERT_TRUE(await({"events"}, [](const json& items) {
    std::multiset<std::string> reasons;
    for (const auto& e : items)
      if (e["involvedObject"].value("name", "") == "batch") reasons.insert(e.value("reason", ""));
    return reasons.count("SuccessfulCreate") == 3 && reasons.count("Completed") == 1;  // one per pod
  }, &last)) << last.dump();
  EXPECT_NE(ok({"describe", "job", "batch"}).find("SuccessfulCreate"), std::string::npos);
}

TEST_F(WorkloadsTest, JobFailsPastBackoffLimit) {
  ok({"apply", "-f", "-"}, jobYaml("flaky", 1, 1, 1));
  std::vector<std::string> pods = {"pods", "-l", "batch.kubernetes.io/job-name=flaky"};
  json last;
  ASSERT_TRUE(await(pods, [](const json& items) { return activePods(items).size() == 1; }, &last));
  setPodStatus(activePods(last)[0], "Failed", "", false);
  // One failure is within the limit: a replacement starts after the 10 s failure back-off.
  ASSERT_TRUE(await(pods, [](const json& items) {
    return items.size() == 2 && activePods(items).size() == 1;
  }, &last)) << last.dump();
  setPodStatus(activePods(last)[0], "Failed", "", false);
  auto r = server_->kubectl({"-n", ns_, "wait", "--for=condition=failed", "job/flaky", "--timeout=30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json job = json::parse(ok({"get", "job", "flaky", "-o", "json"}));
  EXPECT_EQ(job["status"]["failed"], 2);
  std::string reason;
  for (const auto& c : job["status"]["conditions"])
    if (c["type"] == "Failed") reason = c["reason"];
  EXPECT_EQ(reason, "BackoffLimitExceeded");
  EXPECT_EQ(list(pods).size(), 2u);  // no third attempt
}

// An Indexed Job gives each pod a completion index (label, annotation, hostname, env) and
// completes once every index succeeded; completedIndexes shows the done ones.
TEST_F(WorkloadsTest, IndexedJobRunsEachIndexOnce) {
  std::string yaml = jobYaml("idx", 3, 2, 6);
  yaml.replace(yaml.find("  backoffLimit"), 0, "  completionMode: Indexed\n");
  ok({"apply", "-f", "-"}, yaml);
  std::vector<std::string> pods = {"pods", "-l", "batch.kubernetes.io/job-name=idx"};
  auto indexOf = [](const json& p) {
    return p["metadata"]["labels"].value("batch.kubernetes.io/job-completion-index", "?");
  };
  json last;
  ASSERT_TRUE(await(pods, [](const json& items) { return activePods(items).size() == 2; }, &last))
      << last.dump();
  std::multiset<std::string> first;
  for (const auto& p : last) {
    first.insert(indexOf(p));
    EXPECT_EQ(p["spec"].value("hostname", ""), "idx-" + indexOf(p));
    EXPECT_EQ(p["spec"]["containers"][0]["env"][0].value("name", ""), "JOB_COMPLETION_INDEX");
  }
  EXPECT_EQ(first, (std::multiset<std::string>{"0", "1"}));
  // Index 1 finishes: index 2 starts (index 0 still runs).
  for (const auto& p : last)
    if (indexOf(p) == "1") setPodStatus(p["metadata"]["name"], "Succeeded", "", false);
  ASSERT_TRUE(await(pods, [&](const json& items) {
    std::multiset<std::string> running;
    for (const auto& p : items)
      if (p.contains("status") && p["status"].value("phase", "") != "Succeeded") running.insert(indexOf(p));
    return running == std::multiset<std::string>{"0", "2"};
  }, &last)) << last.dump();
  EXPECT_EQ(ok({"get", "job", "idx", "-o", "jsonpath={.status.completedIndexes}"}), "1");
  for (const auto& p : last)
    if (p["status"].value("phase", "") != "Succeeded") setPodStatus(p["metadata"]["name"], "Succeeded", "", false);
  auto r = server_->kubectl({"-n", ns_, "wait", "--for=condition=complete", "job/idx", "--timeout=30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ok({"get", "job", "idx", "-o", "jsonpath={.status.completedIndexes}"}), "0-2");
  EXPECT_EQ(list(pods).size(), 3u);
}

// ---- Deployment rollouts ----

// `kubectl autoscale`: with no metrics API the autoscaler still holds the target's replicas
// within [min, max], records SuccessfulRescale events and says why it cannot scale on metrics.
TEST_F(WorkloadsTest, HorizontalPodAutoscalerKeepsReplicasWithinBounds) {
  ok({"create", "deployment", "hpa", "--image=nginx:1", "--replicas=1"});
  ok({"autoscale", "deploy/hpa", "--min=2", "--max=3"});
  auto waitFor = [&](const std::string& what, const std::string& jsonpath, const std::string& value) {
    auto r = server_->kubectl({"-n", ns_, "wait", what, "--for=jsonpath=" + jsonpath + "=" + value, "--timeout=40s"});
    EXPECT_EQ(r.exit_code, 0) << what << " " << jsonpath << "=" << value << ": " << r.err;
  };
  waitFor("deploy/hpa", "{.spec.replicas}", "2");
  ok({"scale", "deploy/hpa", "--replicas=6"});
  waitFor("deploy/hpa", "{.spec.replicas}", "3");
  waitFor("hpa/hpa", "{.status.desiredReplicas}", "3");
  json hpa = get({"hpa", "hpa"});
  EXPECT_FALSE(hpa["status"].value("lastScaleTime", "").empty()) << hpa.dump();
  std::map<std::string, std::string> able;
  for (const auto& c : hpa["status"].value("conditions", json::array())) able[c["type"]] = c.value("status", "");
  EXPECT_EQ(able["AbleToScale"], "True") << hpa.dump();  // SucceededRescale, or SucceededGetScale after a resync

  json events;
  EXPECT_TRUE(await({"events"},
                    [](const json& items) {
                      std::set<std::string> msgs;
                      for (const auto& e : items)
                        if (e.value("reason", "") == "SuccessfulRescale") msgs.insert(e.value("message", ""));
                      return msgs.count("New size: 2; reason: Current number of replicas below Spec.MinReplicas") &&
                             msgs.count("New size: 3; reason: Current number of replicas above Spec.MaxReplicas");
                    }, &events)) << events.dump();

  std::string table = ok({"get", "hpa"});
  EXPECT_NE(table.find("REFERENCE"), std::string::npos) << table;
  EXPECT_NE(table.find("Deployment/hpa"), std::string::npos) << table;
  EXPECT_NE(table.find("MINPODS"), std::string::npos) << table;
}

TEST_F(WorkloadsTest, DeploymentRolloutHistoryUndoPauseResumeRestart) {
  ok({"create", "deployment", "web", "--image=nginx:1", "--replicas=2"});
  auto waitFor = [&](const std::string& jsonpath, const std::string& value) {
    auto r = server_->kubectl({"-n", ns_, "wait", "deploy/web", "--for=jsonpath=" + jsonpath + "=" + value,
                               "--timeout=30s"});
    EXPECT_EQ(r.exit_code, 0) << jsonpath << "=" << value << ": " << r.err;
  };
  const std::string rev = "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}";
  waitFor(rev, "1");
  ok({"set", "image", "deploy/web", "nginx=nginx:2"});
  waitFor(rev, "2");
  std::string history = ok({"rollout", "history", "deploy/web"});
  EXPECT_NE(history.find("\n1 "), std::string::npos) << history;
  EXPECT_NE(history.find("\n2 "), std::string::npos) << history;
  EXPECT_NE(ok({"rollout", "history", "deploy/web", "--revision=2"}).find("nginx:2"), std::string::npos);

  // Undo brings revision 1's template back as revision 3.
  ok({"rollout", "undo", "deploy/web"});
  waitFor(rev, "3");
  waitFor("{.spec.template.spec.containers[0].image}", "nginx:1");
  history = ok({"rollout", "history", "deploy/web"});
  EXPECT_EQ(history.find("\n1 "), std::string::npos) << history;
  EXPECT_NE(history.find("\n3 "), std::string::npos) << history;

  // Paused: a template change makes no new ReplicaSet until resumed.
  ok({"rollout", "pause", "deploy/web"});
  ok({"set", "image", "deploy/web", "nginx=nginx:3"});
  json d = json::parse(ok({"get", "deploy", "web", "-o", "json"}));
  waitFor("{.status.observedGeneration}", std::to_string(d["metadata"]["generation"].get<int64_t>()));
  for (const auto& rs : list({"rs"}))
    EXPECT_NE(rs["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:3");
  EXPECT_EQ(json::parse(ok({"get", "deploy", "web", "-o", "json"}))["metadata"]["annotations"]
                ["deployment.kubernetes.io/revision"], "3");
  ok({"rollout", "resume", "deploy/web"});
  waitFor(rev, "4");

  // Restart stamps the template and rolls a new revision.
  ok({"rollout", "restart", "deploy/web"});
  waitFor(rev, "5");
  d = json::parse(ok({"get", "deploy", "web", "-o", "json"}));
  EXPECT_TRUE(d["spec"]["template"]["metadata"]["annotations"].contains("kubectl.kubernetes.io/restartedAt"));
}

// A Deployment applied from YAML has no `creationTimestamp: null` in its template, but the
// template kubectl copies back on `rollout undo` has: undo must still reuse revision 1's
// ReplicaSet (as revision 3), not create a third one.
TEST_F(WorkloadsTest, DeploymentUndoOfAppliedYamlReusesReplicaSet) {
  ok({"apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: applied}
spec:
  replicas: 1
  selector: {matchLabels: {app: applied}}
  template:
    metadata: {labels: {app: applied}}
    spec: {containers: [{name: c, image: nginx:1}]}
)");
  auto waitRev = [&](const std::string& value) {
    auto r = server_->kubectl({"-n", ns_, "wait", "deploy/applied",
                               "--for=jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}=" + value,
                               "--timeout=30s"});
    ASSERT_EQ(r.exit_code, 0) << value << ": " << r.err;
  };
  waitRev("1");
  ok({"set", "image", "deploy/applied", "c=nginx:2"});
  waitRev("2");
  ok({"rollout", "undo", "deploy/applied"});
  waitRev("3");
  std::string history = ok({"rollout", "history", "deploy/applied"});
  EXPECT_EQ(history.find("\n1 "), std::string::npos) << history;
  EXPECT_NE(history.find("\n3 "), std::string::npos) << history;
  std::vector<json> rss = list({"rs", "-l", "app=applied"});
  EXPECT_EQ(rss.size(), 2u);
  for (const auto& rs : rss)
    if (rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1")
      EXPECT_EQ(rs["metadata"]["annotations"].value("deployment.kubernetes.io/revision-history", ""), "1");

  // The rollouts are shown as events, as upstream's deployment and replicaset controllers do.
  auto hasEvent = [](const std::string& reason, const std::string& prefix) {
    return [=](const json& items) {
      for (const auto& e : items)
        if (e.value("reason", "") == reason && e.value("message", "").rfind(prefix, 0) == 0) return true;
      return false;
    };
  };
  json events;
  EXPECT_TRUE(await({"events", "--field-selector=involvedObject.kind=Deployment"},
                    hasEvent("ScalingReplicaSet", "Scaled up replica set applied-"), &events))
      << events.dump();
  ok({"scale", "deploy/applied", "--replicas=0"});
  EXPECT_TRUE(await({"events", "--field-selector=involvedObject.kind=Deployment"},
                    hasEvent("ScalingReplicaSet", "Scaled down replica set applied-"), &events))
      << events.dump();
  EXPECT_TRUE(await({"events", "--field-selector=involvedObject.kind=ReplicaSet"},
                    hasEvent("SuccessfulCreate", "Created pod: applied-"), &events))
      << events.dump();
  EXPECT_TRUE(await({"events", "--field-selector=involvedObject.kind=ReplicaSet"},
                    hasEvent("SuccessfulDelete", "Deleted pod: applied-"), &events))
      << events.dump();
  std::string described = ok({"describe", "deploy", "applied"});
  EXPECT_NE(described.find("ScalingReplicaSet"), std::string::npos) << described;
}

TEST_F(WorkloadsTest, DeploymentSelectorNotMatchingTemplateIsInvalid) {
  auto r = server_->kubectl({"-n", ns_, "apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatched}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: two}}
    spec: {containers: [{name: c, image: nginx}]}
)");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("The Deployment \"mismatched\" is invalid"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("`selector` does not match template `labels`"), std::string::npos) << r.err;
}

TEST_F(WorkloadsTest, DeploymentThatCannotProgressExceedsItsDeadline) {
  // No node agent runs here: the pods never become ready.
  ok({"apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec: {containers: [{name: c, image: nginx}]}
)");
  auto r = server_->kubectl({"-n", ns_, "wait", "deploy/stuck",
                             "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=ProgressDeadlineExceeded",
                             "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = server_->kubectl({"-n", ns_, "rollout", "status", "deploy/stuck", "--timeout=20s"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("exceeded its progress deadline"), std::string::npos) << r.err;
}

TEST_F(WorkloadsTest, DeploymentHonoursMinReadySeconds) {
  ok({"apply", "-f", "-"}, R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: slow}
spec:
  replicas: 1
  minReadySeconds: 3
  selector: {matchLabels: {app: slow}}
  template:
    metadata: {labels: {app: slow}}
    spec: {containers: [{name: c, image: nginx}]}
)");
  json last;
  ASSERT_TRUE(await({"pods", "-l", "app=slow"}, [](const json& items) { return items.size() == 1; }, &last));
  std::string pod = last[0]["metadata"]["name"];
  // Ready from now on, as a kubelet would report it.
  auto ready_at = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(ready_at);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  json status = {{"status", {{"phase", "Running"}, {"podIP", "10.244.9.9"},
                             {"conditions", {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", ts}}}}}}};
  ok({"patch", "pod", pod, "--subresource=status", "--type=merge", "-p", status.dump()});
  auto r = server_->kubectl({"-n", ns_, "wait", "deploy/slow", "--for=jsonpath={.status.availableReplicas}=1",
                             "--timeout=30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Available no earlier than minReadySeconds after the second it became ready.
  EXPECT_GE(std::chrono::system_clock::now(),
            std::chrono::system_clock::from_time_t(t) + std::chrono::seconds(3));
  json d = json::parse(ok({"get", "deploy", "slow", "-o", "json"}));
  EXPECT_EQ(d["status"]["readyReplicas"], 1);
}

}  // namespace
}  // namespace berth::e2e
