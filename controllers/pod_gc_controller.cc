#include "controllers/pod_gc_controller.h"

#include "common/log.h"
#include "controllers/node_lifecycle_controller.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

using client::ObjectPtr;

namespace {

const std::string& nodeNameOf(const json& pod) {
  static const std::string kNone;
  if (!pod.contains("spec") || !pod["spec"].is_object()) return kNone;
  auto it = pod["spec"].find("nodeName");
  return it != pod["spec"].end() && it->is_string() ? it->get_ref<const std::string&>() : kNone;
}

std::string metaField(const json& obj, const char* field) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  return obj["metadata"].value(field, "");
}

bool terminal(const json& pod) {
  std::string phase;
  if (pod.contains("status") && pod["status"].is_object()) phase = pod["status"].value("phase", "");
  return phase == "Succeeded" || phase == "Failed";
}

}  // namespace

PodGCController::PodGCController(client::Client* client, client::InformerFactory* informers,
                                 Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("pod-garbage-collector", config_,
                                      [this](const std::string& k) { return reconcile(k); });
  nodes_ = informers->informerFor(nodesResource());
  pods_ = informers->informerFor(podsResource());
  pods_->addIndexer(kIndexNodeName, podNodeNameIndex);

  auto on_pod = [this](const ObjectPtr& o) {
    const std::string& node = nodeNameOf(*o);
    if (node.empty() ? isDeleting(*o) : !nodes_->get(node))
      controller_->enqueue(client::objectKey(*o));
  };
  client::EventHandlers ph;
  ph.on_add = on_pod;
  ph.on_update = [on_pod](const ObjectPtr&, const ObjectPtr& o) { on_pod(o); };
  ph.on_delete = [this](const ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu_);
    missing_since_.erase(client::objectKey(*o));
  };
  pods_->addEventHandlers(std::move(ph));

  client::EventHandlers nh;
  nh.on_delete = [this](const ObjectPtr& n) {
    for (const auto& p : pods_->byIndex(kIndexNodeName, client::objectKey(*n)))
      controller_->enqueue(client::objectKey(*p));
  };
  nodes_->addEventHandlers(std::move(nh));
}

PodGCController::~PodGCController() { stop(); }

void PodGCController::start() { controller_->start({nodes_, pods_}); }
void PodGCController::stop() { controller_->stop(); }

ReconcileResult PodGCController::reconcile(const std::string& key) {
  ObjectPtr pod = pods_->get(key);
  if (!pod) return ReconcileResult::ok();
  const std::string& node = nodeNameOf(*pod);
  if (node.empty()) return isDeleting(*pod) ? forceDelete(*pod) : ReconcileResult::ok();
  if (nodes_->get(node)) {
    std::lock_guard<std::mutex> l(mu_);
    missing_since_.erase(key);
    return ReconcileResult::ok();
  }
  const TimePoint now = clock_->now();
  TimePoint since;
  {
    std::lock_guard<std::mutex> l(mu_);
    since = missing_since_.emplace(key, now).first->second;
  }
  if (now - since < config_.quarantine)
    return ReconcileResult::after(
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.quarantine - (now - since)) +
        std::chrono::milliseconds(10));
  // The cache may lag: only a node the API server itself does not know is gone.
  auto n = client_->get(nodesResource(), "", node);
  if (n.isOk()) {
    std::lock_guard<std::mutex> l(mu_);
    missing_since_.erase(key);
    return ReconcileResult::ok();
  }
  if (n.status().code() != Code::kNotFound)
    return ReconcileResult::fail(n.status().withContext("reading node " + node));
  BLOG(0, "Found orphaned Pod assigned to the Node, deleting").kv("pod", key).kv("node", node);
  // Upstream's DisruptionTarget condition tells controllers (Jobs' podFailurePolicy) why.
  json marked = *pod;
  json& status = marked["status"];
  if (!status.is_object()) status = json::object();
  json& conds = status["conditions"];
  if (!conds.is_array()) conds = json::array();
  bool has = false;
  for (const auto& c : conds) has = has || (c.is_object() && c.value("type", "") == "DisruptionTarget");
  if (!has) {
    conds.push_back({{"type", "DisruptionTarget"}, {"status", "True"},
                     {"reason", "DeletionByPodGC"},
                     {"message", "PodGC: node no longer exists"},
                     {"lastTransitionTime", formatRfc3339(now)}});
    if (!terminal(marked)) status["phase"] = "Failed";
    auto u = client_->update(podsResource(), metaField(*pod, "namespace"),
                             metaField(*pod, "name"), marked, "status");
    if (!u.isOk() && u.status().code() == Code::kNotFound) return ReconcileResult::ok();
    if (!u.isOk()) return ReconcileResult::fail(u.status().withContext("marking pod " + key));
  }
  return forceDelete(*pod);
}

ReconcileResult PodGCController::forceDelete(const json& pod) {
  std::string ns = metaField(pod, "namespace"), name = metaField(pod, "name");
  auto res = client_->remove(podsResource(), ns, name,
                             {{"gracePeriodSeconds", 0},
                              {"preconditions", {{"uid", metaField(pod, "uid")}}}});
  if (!res.isOk() && res.status().code() != Code::kNotFound && res.status().code() != Code::kConflict)
    return ReconcileResult::fail(res.status().withContext("deleting pod " + ns + "/" + name));
  std::lock_guard<std::mutex> l(mu_);
  missing_since_.erase(ns + "/" + name);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
