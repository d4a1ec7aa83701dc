#include "controllers/node_lifecycle_controller.h"

#include <algorithm>
#include <set>

#include "client/event_recorder.h"
#include "common/log.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

using client::ObjectPtr;
using client::Resource;

namespace {

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};

// The conditions upstream makes Unknown when a node stops posting status.
const char* const kMonitoredConditions[] = {"Ready", "MemoryPressure", "DiskPressure",
                                            "PIDPressure"};

// Condition (type, status) -> NoSchedule taint key, as upstream's TaintNodesByCondition.
struct ConditionTaint {
  const char* type;
  const char* status;
  const char* key;
};
const ConditionTaint kNoScheduleTaints[] = {
    {"Ready", "False", kTaintNotReady},
    {"Ready", "Unknown", kTaintUnreachable},
    {"MemoryPressure", "True", "node.kubernetes.io/memory-pressure"},
    {"DiskPressure", "True", "node.kubernetes.io/disk-pressure"},
    {"PIDPressure", "True", "node.kubernetes.io/pid-pressure"},
    {"NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"},
};

bool managedTaint(const std::string& key, const std::string& effect) {
  if (effect == "NoExecute") return key == kTaintNotReady || key == kTaintUnreachable;
  if (effect != "NoSchedule") return false;
  if (key == kTaintUnschedulable) return true;
  for (const auto& ct : kNoScheduleTaints)
    if (key == ct.key) return true;
  return false;
}

std::string str(const json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object() || !obj.contains(a)) return "";
  const json& x = obj[a];
  if (!b) return x.is_string() ? x.get<std::string>() : "";
  if (!x.is_object() || !x.contains(b) || !x[b].is_string()) return "";
  return x[b].get<std::string>();
}

const json& conditionsOf(const json& node) {
  static const json kEmpty = json::array();
  if (!node.contains("status") || !node["status"].is_object()) return kEmpty;
  const json& c = node["status"].value("conditions", json());
  return c.is_array() ? node["status"]["conditions"] : kEmpty;
}

}  // namespace

std::vector<std::string> podNodeNameIndex(const json& pod) {
  std::string node = str(pod, "spec", "nodeName");
  if (node.empty()) return {};
  return {node};
}

const Resource& nodesResource() {
  static const Resource r{"", "v1", "nodes", "Node", false, kVerbs};
  return r;
}
const Resource& leasesResource() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true, kVerbs};
  return r;
}

std::string conditionStatus(const json& conditions, const std::string& type) {
  if (!conditions.is_array()) return "";
  for (const auto& c : conditions)
    if (c.is_object() && c.value("type", "") == type) return c.value("status", "");
  return "";
}

json unknownConditions(const json& conditions, const std::string& creation_timestamp,
                       TimePoint now, bool* changed) {
  *changed = false;
  json out = conditions.is_array() ? conditions : json::array();
  const std::string ts = formatRfc3339(now);
  for (const char* type : kMonitoredConditions) {
    auto it = std::find_if(out.begin(), out.end(), [&](const json& c) {
      return c.is_object() && c.value("type", "") == type;
    });
    if (it == out.end()) {
      out.push_back({{"type", type},
                     {"status", "Unknown"},
                     {"reason", "NodeStatusNeverUpdated"},
                     {"message", "Kubelet never posted node status."},
                     {"lastHeartbeatTime", creation_timestamp},
                     {"lastTransitionTime", ts}});
      *changed = true;
    } else if (it->value("status", "") != "Unknown") {
      (*it)["status"] = "Unknown";
      (*it)["reason"] = "NodeStatusUnknown";
      (*it)["message"] = "Kubelet stopped posting node status.";
      (*it)["lastTransitionTime"] = ts;
      *changed = true;
    }
  }
  return out;
}

json desiredTaints(const json& node, const json& conditions, TimePoint now) {
  // (key, effect) pairs wanted.
  std::vector<std::pair<std::string, std::string>> want;
  std::string ready = conditionStatus(conditions, "Ready");
  if (ready == "False") want.emplace_back(kTaintNotReady, "NoExecute");
  if (ready == "Unknown") want.emplace_back(kTaintUnreachable, "NoExecute");
  for (const auto& ct : kNoScheduleTaints)
    if (conditionStatus(conditions, ct.type) == ct.status) want.emplace_back(ct.key, "NoSchedule");
  const json& spec = node.contains("spec") && node["spec"].is_object() ? node["spec"] : json();
  if (spec.is_object() && spec.value("unschedulable", false))
    want.emplace_back(kTaintUnschedulable, "NoSchedule");

  json out = json::array();
  std::set<std::pair<std::string, std::string>> have;
  if (spec.is_object() && spec.contains("taints") && spec["taints"].is_array()) {
    for (const auto& t : spec["taints"]) {
      if (!t.is_object()) continue;
      std::pair<std::string, std::string> ke{t.value("key", ""), t.value("effect", "")};
      if (managedTaint(ke.first, ke.second) &&
          std::find(want.begin(), want.end(), ke) == want.end())
        continue;  // no longer wanted
      if (managedTaint(ke.first, ke.second)) have.insert(ke);
      out.push_back(t);
    }
  }
  for (const auto& ke : want) {
    if (have.count(ke)) continue;
    json t = {{"key", ke.first}, {"effect", ke.second}};
    if (ke.second == "NoExecute") t["timeAdded"] = formatRfc3339(now);
    out.push_back(std::move(t));
  }
  return out;
}

// ---- HeartbeatTracker ----

TimePoint HeartbeatTracker::observe(const std::string& node, const std::string& signature,
                                    TimePoint now) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = seen_.find(node);
  if (it == seen_.end() || it->second.first != signature) {
    seen_[node] = {signature, now};
    return now;
  }
  return it->second.second;
}

void HeartbeatTracker::forget(const std::string& node) {
  std::lock_guard<std::mutex> l(mu_);
  seen_.erase(node);
}

// ---- NodeLifecycleController ----

NodeLifecycleController::NodeLifecycleController(client::Client* client,
                                                 client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("nodelifecycle", config_, [this](const std::string& k) { return reconcile(k); });
  nodes_ = informers->informerFor(nodesResource());
  leases_ = informers->informerFor(leasesResource());
  pods_ = informers->informerFor(podsResource());
  pods_->addIndexer(kIndexNodeName, podNodeNameIndex);

  client::EventHandlers nh = controller_->keyHandlers(false);
  nh.on_delete = [this](const ObjectPtr& o) {
    heartbeats_.forget(client::objectKey(*o));
  };
  nodes_->addEventHandlers(std::move(nh));

  // A node lease is named after its node.
  auto on_lease = [this](const ObjectPtr& o) {
    if (str(*o, "metadata", "namespace") == kNodeLeaseNamespace)
      controller_->enqueue(str(*o, "metadata", "name"));
  };
  client::EventHandlers lh;
  lh.on_add = on_lease;
  lh.on_update = [on_lease](const ObjectPtr&, const ObjectPtr& o) { on_lease(o); };
  lh.on_delete = on_lease;
  leases_->addEventHandlers(std::move(lh));

  // A pod that turns Ready on a node that is not gets marked again.
  client::EventHandlers ph;
  ph.on_update = [this](const ObjectPtr& old_pod, const ObjectPtr& pod) {
    std::string node = str(*pod, "spec", "nodeName");
    if (!node.empty() && podReady(*pod) && !podReady(*old_pod)) controller_->enqueue(node);
  };
  pods_->addEventHandlers(std::move(ph));
}

NodeLifecycleController::~NodeLifecycleController() { stop(); }

void NodeLifecycleController::start() { controller_->start({nodes_, leases_, pods_}); }
void NodeLifecycleController::stop() { controller_->stop(); }

ReconcileResult NodeLifecycleController::reconcile(const std::string& key) {
  ObjectPtr cached = nodes_->get(key);
  if (!cached) {
    heartbeats_.forget(key);
    return ReconcileResult::ok();
  }
  const json& node = *cached;
  const TimePoint now = clock_->now();
  ObjectPtr lease = leases_->get(std::string(kNodeLeaseNamespace) + "/" + key);
  const json& conds = conditionsOf(node);
  std::string heartbeat;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == "Ready") heartbeat = c.value("lastHeartbeatTime", "");
  std::string signature = (lease ? str(*lease, "spec", "renewTime") : "") + "|" + heartbeat;
  TimePoint probe = heartbeats_.observe(key, signature, now);
  bool expired = now - probe >= config_.grace_period;

  json next_conds = conds;
  bool status_changed = false;
  if (expired) {
    next_conds = unknownConditions(conds, str(node, "metadata", "creationTimestamp"), now,
                                   &status_changed);
  }
  json current = node;
  if (status_changed) {
    std::string was = conditionStatus(conds, "Ready");
    current["status"]["conditions"] = next_conds;
    auto res = client_->update(nodesResource(), "", key, current, "status");
    if (!res.isOk()) {
      if (res.status().code() == Code::kNotFound) return ReconcileResult::ok();
      return ReconcileResult::fail(res.status().withContext("marking node " + key + " Unknown"));
    }
    if (res->is_object() && res->contains("metadata")) current = std::move(res).value();
    if (config_.recorder) {
      json ref = {{"kind", "Node"}, {"apiVersion", "v1"}, {"name", key},
                  {"uid", str(current, "metadata", "uid")}};
      config_.recorder->event(ref, client::EventRecorder::Type::kNormal, "NodeNotReady",
                              "Node " + key + " status is now: NodeNotReady");
    }
    BLOG(0, "node stopped posting status").kv("node", key).kv("was", was.empty() ? "-" : was)
        .kv("reason", "NodeNotReady");
  }
  json taints = desiredTaints(current, next_conds, now);
  json old_taints = current.contains("spec") && current["spec"].is_object()
                        ? current["spec"].value("taints", json::array())
                        : json::array();
  if (taints != old_taints) {
    json patch = {{"metadata", {{"resourceVersion", str(current, "metadata", "resourceVersion")}}},
                  {"spec", {{"taints", taints.empty() ? json() : taints}}}};
    auto res = client_->patch(nodesResource(), "", key, client::PatchType::kMerge, patch);
    if (!res.isOk()) {
      if (res.status().code() == Code::kNotFound) return ReconcileResult::ok();
      return ReconcileResult::fail(res.status().withContext("updating taints of node " + key));
    }
    BLOG(2, "node taints updated").kv("node", key).kv("taints", taints.dump());
  }
  if (conditionStatus(next_conds, "Ready") != "True") {
    Status st = markPodsNotReady(key, now);
    if (!st.isOk()) return ReconcileResult::fail(st);
  }
  if (!expired) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(probe + config_.grace_period - now);
    return ReconcileResult::after(left + std::chrono::milliseconds(10));
  }
  return ReconcileResult::ok();
}

Status NodeLifecycleController::markPodsNotReady(const std::string& node, TimePoint now) {
  Status first_err;
  for (const auto& pod : pods_->byIndex(kIndexNodeName, node)) {
    if (!podReady(*pod) || isDeleting(*pod)) continue;
    json copy = *pod;
    for (auto& c : copy["status"]["conditions"]) {
      if (c.is_object() && c.value("type", "") == "Ready") {
        c["status"] = "False";
        c["lastTransitionTime"] = formatRfc3339(now);
      }
    }
    std::string ns = str(copy, "metadata", "namespace"), name = str(copy, "metadata", "name");
    auto res = client_->update(podsResource(), ns, name, copy, "status");
    if (!res.isOk() && res.status().code() != Code::kNotFound && first_err.isOk())
      first_err = res.status().withContext("marking pod " + ns + "/" + name + " not ready");
    else if (res.isOk()) {
      BLOG(2, "marked pod not ready").kv("pod", ns + "/" + name).kv("node", node);
      if (config_.recorder) {
        json ref = {{"kind", "Pod"}, {"apiVersion", "v1"}, {"namespace", ns}, {"name", name},
                    {"uid", str(copy, "metadata", "uid")}};
        config_.recorder->event(ref, client::EventRecorder::Type::kWarning, "NodeNotReady",
                                "Node is not ready");
      }
    }
  }
  return first_err;
}

}  // namespace berth::controllers
