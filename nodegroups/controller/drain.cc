#include "nodegroups/controller/drain.h"

#include "apiserver/kinds/kind_util.h"
#include "common/log.h"
#include "nodegroups/controller/nodegroup_plan.h"

namespace berth::nodegroups {

using client::json;
namespace k = apiserver::kinds;

std::vector<std::string> podNodeIndex(const json& pod) {
  std::string node = k::str(pod, {"spec", "nodeName"});
  if (node.empty()) return {};
  return {node};
}

Status cordonAndTaint(client::Client& client, const json& node) {
  json taints = json::array();
  bool have = false;
  if (const json* t = k::find(node, {"spec", "taints"}); t && t->is_array()) {
    for (const json& x : *t) {
      if (k::str(x, {"key"}) == kDisruptedTaint) have = true;
      taints.push_back(x);
    }
  }
  if (have && k::flag(node, {"spec", "unschedulable"})) return Status::ok();
  if (!have) {
    taints.push_back({{"key", kDisruptedTaint}, {"effect", "NoSchedule"},
                      {"timeAdded", formatRfc3339(std::chrono::system_clock::now())}});
  }
  json patch = {{"spec", {{"unschedulable", true}, {"taints", taints}}}};
  client::Resource nodes{"", "v1", "nodes", "Node", false, {}};
  Result<json> r = client.patch(nodes, "", k::str(node, {"metadata", "name"}),
                                client::PatchType::kMerge, patch);
  return r.status();
}

namespace {

bool skipPod(const json& pod) {
  if (k::find(pod, {"metadata", "deletionTimestamp"})) return false;  // counted, not evicted
  std::string phase = k::str(pod, {"status", "phase"});
  if (phase == "Succeeded" || phase == "Failed") return true;
  if (const json* a = k::find(pod, {"metadata", "annotations", "kubernetes.io/config.mirror"})) {
    (void)a;
    return true;
  }
  if (const json* refs = k::find(pod, {"metadata", "ownerReferences"}); refs && refs->is_array()) {
    for (const json& r : *refs) {
      if (k::str(r, {"kind"}) == "DaemonSet" && k::flag(r, {"controller"})) return true;
    }
  }
  return false;
}

}  // namespace

Result<DrainProgress> evictPods(client::Client& client, client::Informer& pods,
                                const std::string& node_name) {
  DrainProgress p;
  for (const client::ObjectPtr& pod : pods.byIndex(kIndexPodNode, node_name)) {
    if (skipPod(*pod)) continue;
    p.remaining++;
    if (k::find(*pod, {"metadata", "deletionTimestamp"})) continue;
    std::string ns = k::str(*pod, {"metadata", "namespace"});
    std::string name = k::str(*pod, {"metadata", "name"});
    json eviction = {{"apiVersion", "policy/v1"},
                     {"kind", "Eviction"},
                     {"metadata", {{"name", name}, {"namespace", ns}}}};
    Result<json> r = client.request(
        "POST", "/api/v1/namespaces/" + ns + "/pods/" + name + "/eviction", eviction.dump());
    if (r.isOk() || r.status().code() == Code::kNotFound) continue;
    if (r.status().code() == Code::kTooManyRequests) {
      p.blocked++;
      p.blocked_by = ns + "/" + name;
      continue;
    }
    return r.status().withContext("evicting " + ns + "/" + name);
  }
  return p;
}

}  // namespace berth::nodegroups
