// json_bench: parseJson (common/json_parse.h) against nlohmann::json::parse on the documents
// the server and the clients parse most: a running pod as the watch cache holds it (without
// managedFields, as Table rows parse it), the same with managedFields (a watch event as a
// client reads it), and a small Lease. Prints the machine, µs per document and MB/s for both
// parsers side by side, best of five rounds. Not a test: nothing is asserted.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/bench_pod.h"
#include "bench/common/bench_util.h"
#include "common/json_parse.h"

namespace {

using nlohmann::json;

json runningPod(int i) {
  std::string name = "web-7c5d8f9b4-" + std::to_string(10000 + i);
  json pod = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"generateName", "web-7c5d8f9b4-"},
        {"namespace", "bench"},
        {"uid", "5f0c2a8e-1d3b-4c6e-9a7f-" + std::to_string(100000000000 + i)},
        {"resourceVersion", std::to_string(200000 + i)},
        {"creationTimestamp", "2026-11-28T21:00:00Z"},
        {"labels", {{"app", "web"}, {"tier", "frontend"}, {"pod-template-hash", "7c5d8f9b4"}}},
        {"annotations", {{"berth.dev/note", "a pod as the density and api benches write them"}}},
        {"ownerReferences",
         {{{"apiVersion", "apps/v1"},
           {"kind", "ReplicaSet"},
           {"name", "web-7c5d8f9b4"},
           {"uid", "0d6b1e7a-3c2f-4b8e-8f1a-2b9c7d6e5f40"},
           {"controller", true},
           {"blockOwnerDeletion", true}}}}}},
      {"spec",
       {{"containers",
         {{{"name", "web"},
           {"image", "registry.local/web:1.4.2"},
           {"args", {"--port=8080", "--log-level=info"}},
           {"env",
            {{{"name", "MODE"}, {"value", "production"}}, {{"name", "RATIO"}, {"value", "0.25"}}}},
           {"ports", {{{"containerPort", 8080}, {"name", "http"}, {"protocol", "TCP"}}}},
           {"resources",
            {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}},
             {"limits", {{"memory", "256Mi"}}}}},
           {"readinessProbe",
            {{"httpGet", {{"path", "/healthz"}, {"port", 8080}, {"scheme", "HTTP"}}},
             {"periodSeconds", 10},
             {"timeoutSeconds", 1},
             {"successThreshold", 1},
             {"failureThreshold", 3}}},
           {"volumeMounts",
            {{{"name", "kube-api-access-x7k2p"},
              {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
              {"readOnly", true}}}},
           {"terminationMessagePath", "/dev/termination-log"},
           {"terminationMessagePolicy", "File"},
           {"imagePullPolicy", "IfNotPresent"}}}},
        {"nodeName", "node-" + std::to_string(i % 1000)},
        {"restartPolicy", "Always"},
        {"dnsPolicy", "ClusterFirst"},
        {"schedulerName", "default-scheduler"},
        {"serviceAccountName", "default"},
        {"terminationGracePeriodSeconds", 30},
        {"priority", 0},
        {"enableServiceLinks", true},
        {"tolerations", berth::bench::defaultTolerations()}}},
      {"status",
       {{"phase", "Running"},
        {"hostIP", "10.0.3.17"},
        {"podIP", "10.244.3.41"},
        {"podIPs", {{{"ip", "10.244.3.41"}}}},
        {"qosClass", "Burstable"},
        {"startTime", "2026-11-28T21:00:01Z"},
        {"conditions",
         {{{"type", "PodScheduled"},
           {"status", "True"},
           {"lastTransitionTime", "2026-11-28T21:00:00Z"}},
          {{"type", "Initialized"},
           {"status", "True"},
           {"lastTransitionTime", "2026-11-28T21:00:01Z"}},
          {{"type", "ContainersReady"},
           {"status", "True"},
           {"lastTransitionTime", "2026-11-28T21:00:03Z"}},
          {{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", "2026-11-28T21:00:03Z"}}}},
        {"containerStatuses",
         {{{"name", "web"},
           {"ready", true},
           {"started", true},
           {"restartCount", 0},
           {"image", "registry.local/web:1.4.2"},
           {"imageID", "registry.local/web@sha256:3f1a9c0e7d2b"},
           {"containerID", "runc://8d3e1f0a9b7c6d5e4f3a2b1c0d9e8f7a"},
           {"state", {{"running", {{"startedAt", "2026-11-28T21:00:02Z"}}}}}}}}}}};
  return pod;
}

json managedFields() {
  return json::array({{{"manager", "kube-controller-manager"},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"time", "2026-11-28T21:00:00Z"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1",
                        {{"f:metadata",
                          {{"f:generateName", json::object()},
                           {"f:labels", {{".", json::object()}, {"f:app", json::object()}}}}},
                         {"f:spec",
                          {{"f:containers",
                            {{"k:{\"name\":\"web\"}",
                              {{".", json::object()},
                               {"f:image", json::object()},
                               {"f:name", json::object()}}}}}}}}}},
                      {{"manager", "berth-agent"},
                       {"operation", "Update"},
                       {"apiVersion", "v1"},
                       {"subresource", "status"},
                       {"time", "2026-11-28T21:00:03Z"},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1",
                        {{"f:status",
                          {{"f:conditions", json::object()},
                           {"f:containerStatuses", json::object()},
                           {"f:phase", json::object()},
                           {"f:podIP", json::object()}}}}}}});
}

struct Figure {
  double us_per_doc = 0;
  double mb_per_s = 0;
};

template <typename Parse>
Figure measure(const std::vector<std::string>& docs, Parse parse) {
  size_t bytes = 0;
  for (const auto& d : docs) bytes += d.size();
  double best = 1e30;
  size_t sink = 0;
  for (int round = 0; round < 5; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& d : docs) sink += parse(d).size();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  if (sink == 0) std::printf("(nothing parsed)\n");
  return {best * 1e6 / static_cast<double>(docs.size()), static_cast<double>(bytes) / best / 1e6};
}

void compare(const char* what, const std::vector<std::string>& docs) {
  Figure ours = measure(docs, [](const std::string& d) { return berth::parseJson(d); });
  Figure theirs =
      measure(docs, [](const std::string& d) { return json::parse(d, nullptr, false); });
  std::printf(
      "%-34s %6zu B | parseJson %7.2f us/doc %7.1f MB/s | nlohmann::json::parse %7.2f us/doc %7.1f "
      "MB/s | %.2fx\n",
      what, docs.front().size(), ours.us_per_doc, ours.mb_per_s, theirs.us_per_doc, theirs.mb_per_s,
      theirs.us_per_doc / ours.us_per_doc);
}

}  // namespace

int main() {
  std::printf("json_bench: machine %s, %u cores, %ld MiB\n", berth::bench::cpuModel().c_str(),
              std::thread::hardware_concurrency(), berth::bench::memTotalMiB());
  constexpr int kDocs = 5000;
  std::vector<std::string> bare, with_managed, lease;
  for (int i = 0; i < kDocs; ++i) {
    json pod = runningPod(i);
    pod["metadata"]["managedFields"] = json::array();
    bare.push_back(pod.dump());
    pod["metadata"]["managedFields"] = managedFields();
    with_managed.push_back(pod.dump());
    lease.push_back(json{{"apiVersion", "coordination.k8s.io/v1"},
                         {"kind", "Lease"},
                         {"metadata",
                          {{"name", "node-" + std::to_string(i)},
                           {"namespace", "kube-node-lease"},
                           {"resourceVersion", std::to_string(300000 + i)}}},
                         {"spec",
                          {{"holderIdentity", "node-" + std::to_string(i)},
                           {"leaseDurationSeconds", 40},
                           {"renewTime", "2026-11-28T21:00:10.123456Z"}}}}
                        .dump());
  }
  compare("running pod, managedFields as []", bare);
  compare("running pod with managedFields", with_managed);
  compare("node Lease", lease);
  return 0;
}
