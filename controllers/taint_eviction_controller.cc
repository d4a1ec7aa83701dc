#include "controllers/taint_eviction_controller.h"

#include <algorithm>
#include <cmath>

#include "client/event_recorder.h"
#include "common/log.h"
#include "controllers/node_lifecycle_controller.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

using client::ObjectPtr;

namespace {

std::string str(const json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object() || !obj.contains(a)) return "";
  const json& x = obj[a];
  if (!b) return x.is_string() ? x.get<std::string>() : "";
  if (!x.is_object() || !x.contains(b) || !x[b].is_string()) return "";
  return x[b].get<std::string>();
}

json noExecuteTaints(const json& node) {
  json out = json::array();
  if (!node.contains("spec") || !node["spec"].is_object()) return out;
  const json& taints = node["spec"].value("taints", json::array());
  if (!taints.is_array()) return out;
  for (const auto& t : taints)
    if (t.is_object() && t.value("effect", "") == "NoExecute") out.push_back(t);
  return out;
}

}  // namespace

bool tolerationMatches(const json& tol, const json& taint) {
  if (!tol.is_object() || !taint.is_object()) return false;
  std::string effect = tol.value("effect", "");
  if (!effect.empty() && effect != taint.value("effect", "")) return false;
  std::string key = tol.value("key", "");
  if (!key.empty() && key != taint.value("key", "")) return false;
  std::string op = tol.value("operator", "");
  if (op == "Exists") return true;
  if (op.empty() || op == "Equal") return tol.value("value", "") == taint.value("value", "");
  return false;
}

std::optional<TimePoint> evictionDeadline(
    const json& tolerations, const json& taints,
    const std::function<TimePoint(const json& taint)>& taint_start) {
  std::optional<TimePoint> deadline;
  if (!taints.is_array()) return deadline;
  for (const auto& taint : taints) {
    if (!taint.is_object() || taint.value("effect", "") != "NoExecute") continue;
    bool tolerated = false;
    if (tolerations.is_array()) {
      for (const auto& tol : tolerations) {
        if (!tolerationMatches(tol, taint)) continue;
        tolerated = true;
        if (!tol.contains("tolerationSeconds") || !tol["tolerationSeconds"].is_number()) continue;
        int64_t secs = std::max<int64_t>(0, tol["tolerationSeconds"].get<int64_t>());
        TimePoint at = taint_start(taint) + std::chrono::seconds(secs);
        if (!deadline || at < *deadline) deadline = at;
      }
    }
    if (!tolerated) return TimePoint::min();
  }
  return deadline;
}

std::chrono::milliseconds TokenBucket::take(TimePoint now) {
  if (qps_ <= 0) return std::chrono::milliseconds(0);
  double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed > 0) {
    tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  if (tokens_ >= 1) {
    tokens_ -= 1;
    return std::chrono::milliseconds(0);
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil((1 - tokens_) / qps_ * 1000)));
}

TaintEvictionController::TaintEvictionController(client::Client* client,
                                                 client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("taint-eviction-controller", config_, [this](const std::string& k) { return reconcile(k); });
  nodes_ = informers->informerFor(nodesResource());
  pods_ = informers->informerFor(podsResource());
  pods_->addIndexer(kIndexNodeName, podNodeNameIndex);

  client::EventHandlers nh;
  nh.on_add = [this](const ObjectPtr& o) {
    if (!noExecuteTaints(*o).empty()) enqueuePodsOn(client::objectKey(*o));
  };
  nh.on_update = [this](const ObjectPtr& old_node, const ObjectPtr& o) {
    if (noExecuteTaints(*old_node) != noExecuteTaints(*o)) enqueuePodsOn(client::objectKey(*o));
  };
  nodes_->addEventHandlers(std::move(nh));

  auto on_pod = [this](const ObjectPtr& o) {
    std::string node = str(*o, "spec", "nodeName");
    if (node.empty() || isDeleting(*o)) return;
    ObjectPtr n = nodes_->get(node);
    if (n && !noExecuteTaints(*n).empty()) controller_->enqueue(client::objectKey(*o));
  };
  client::EventHandlers ph;
  ph.on_add = on_pod;
  ph.on_update = [on_pod](const ObjectPtr&, const ObjectPtr& o) { on_pod(o); };
  pods_->addEventHandlers(std::move(ph));
}

TaintEvictionController::~TaintEvictionController() { stop(); }

void TaintEvictionController::start() { controller_->start({nodes_, pods_}); }
void TaintEvictionController::stop() { controller_->stop(); }

void TaintEvictionController::enqueuePodsOn(const std::string& node) {
  for (const auto& p : pods_->byIndex(kIndexNodeName, node)) controller_->enqueue(client::objectKey(*p));
}

TimePoint TaintEvictionController::taintStart(const std::string& node, const json& taint,
                                              TimePoint now) {
  TimePoint added;
  if (parseRfc3339(taint.value("timeAdded", ""), &added)) return added;
  std::lock_guard<std::mutex> l(mu_);
  auto key = node + "/" + taint.value("key", "") + "/" + taint.value("effect", "");
  return first_seen_.emplace(key, now).first->second;
}

ReconcileResult TaintEvictionController::reconcile(const std::string& key) {
  ObjectPtr pod = pods_->get(key);
  if (!pod || isDeleting(*pod)) return ReconcileResult::ok();
  std::string node_name = str(*pod, "spec", "nodeName");
  if (node_name.empty()) return ReconcileResult::ok();
  ObjectPtr node = nodes_->get(node_name);
  if (!node) return ReconcileResult::ok();
  json taints = noExecuteTaints(*node);
  if (taints.empty()) return ReconcileResult::ok();
  const TimePoint now = clock_->now();
  const json& spec = (*pod)["spec"];
  auto deadline = evictionDeadline(spec.value("tolerations", json::array()), taints,
                                   [&](const json& t) { return taintStart(node_name, t, now); });
  if (!deadline) return ReconcileResult::ok();  // tolerated for ever
  if (*deadline > now)
    return ReconcileResult::after(
        std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - now) +
        std::chrono::milliseconds(10));
  std::string zone;
  const json& labels = (*node)["metadata"].value("labels", json::object());
  if (labels.is_object()) zone = labels.value("topology.kubernetes.io/zone", "");
  std::chrono::milliseconds wait;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = zones_.try_emplace(zone, config_.zone_qps, config_.zone_burst, now).first;
    wait = it->second.take(now);
  }
  if (wait.count() > 0) return ReconcileResult::after(wait);
  std::string ns = str(*pod, "metadata", "namespace"), name = str(*pod, "metadata", "name");
  auto res = client_->remove(podsResource(), ns, name,
                             {{"preconditions", {{"uid", str(*pod, "metadata", "uid")}}}});
  if (!res.isOk() && res.status().code() != Code::kNotFound && res.status().code() != Code::kConflict)
    return ReconcileResult::fail(res.status().withContext("evicting pod " + key));
  if (res.isOk() && config_.recorder) {
    json ref = {{"kind", "Pod"}, {"apiVersion", "v1"}, {"namespace", ns}, {"name", name},
                {"uid", str(*pod, "metadata", "uid")}};
    config_.recorder->event(ref, client::EventRecorder::Type::kNormal, "TaintManagerEviction",
                            "Marking for deletion Pod " + key);
  }
  BLOG(0, "Marking for deletion Pod").kv("pod", key).kv("node", node_name)
      .kv("reason", "TaintManagerEviction");
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
