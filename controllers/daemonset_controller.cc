#include "controllers/daemonset_controller.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "controllers/controller_revisions.h"
#include "controllers/deployment_controller.h"
#include "controllers/owned_pods.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

const char kControllerRevisionHashLabel[] = "controller-revision-hash";

namespace {

constexpr const char kComputeTypeLabel[] = "eks.amazonaws.com/compute-type";

// Upstream's AddOrUpdateDaemonPodTolerations: daemons ride out node trouble.
json defaultTolerations() {
  auto t = [](const char* key, const char* effect) {
    return json{{"key", key}, {"operator", "Exists"}, {"effect", effect}};
  };
  return json::array({t("node.kubernetes.io/not-ready", "NoExecute"),
                      t("node.kubernetes.io/unreachable", "NoExecute"),
                      t("node.kubernetes.io/disk-pressure", "NoSchedule"),
                      t("node.kubernetes.io/memory-pressure", "NoSchedule"),
                      t("node.kubernetes.io/pid-pressure", "NoSchedule"),
                      t("node.kubernetes.io/unschedulable", "NoSchedule")});
}

bool terminal(const json& pod) {
  std::string phase = strAt(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

// What a node change must touch: labels, taints, schedulability.
bool nodeSchedulingChanged(const json& a, const json& b) {
  return jsonAt(a, {"metadata", "labels"}) != jsonAt(b, {"metadata", "labels"}) ||
         jsonAt(a, {"spec", "taints"}) != jsonAt(b, {"spec", "taints"}) ||
         jsonAt(a, {"spec", "unschedulable"}) != jsonAt(b, {"spec", "unschedulable"});
}

bool olderFirst(const ObjectPtr& a, const ObjectPtr& b) {
  std::string ta = strAt(*a, {"metadata", "creationTimestamp"});
  std::string tb = strAt(*b, {"metadata", "creationTimestamp"});
  if (ta != tb) return ta < tb;
  return nameOf(*a) < nameOf(*b);
}

}  // namespace

// What one reconcile decided, from the cache as it is.
struct DaemonSetController::Plan {
  struct Delete {
    ObjectPtr pod;
    bool force = false;  // its node is gone: no kubelet will finish a graceful delete
  };
  std::vector<std::string> create_on;  // node names
  std::vector<Delete> deletes;
  // status
  int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, available = 0, updated = 0;
  std::chrono::milliseconds wait{0};  // until a ready pod becomes available
};

DaemonSetController::DaemonSetController(client::Client* client, client::InformerFactory* informers,
                                         Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      expectations_(clock_, config_.expectations_ttl) {
  controller_ = Controller::forConfig("daemonset", config_, [this](const std::string& k) { return reconcile(k); });
  dss_ = informers->informerFor(res::daemonSets());
  pods_ = informers->informerFor(podsResource());
  nodes_ = informers->informerFor(res::nodes());
  revisions_ = informers->informerFor(res::controllerRevisions());
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  revisions_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers dh = controller_->keyHandlers(false);
  dh.on_delete = [this](const ObjectPtr& o) { expectations_.forget(client::objectKey(*o)); };
  dss_->addEventHandlers(std::move(dh));

  pods_->addEventHandlers(ownedPodHandlers("DaemonSet", "apps", dss_, &expectations_, controller_.get()));

  client::EventHandlers nh;
  nh.on_add = [this](const ObjectPtr&) { enqueueAll(); };
  nh.on_update = [this](const ObjectPtr& old_node, const ObjectPtr& o) {
    if (nodeSchedulingChanged(*old_node, *o)) enqueueAll();
  };
  nh.on_delete = [this](const ObjectPtr&) { enqueueAll(); };
  nodes_->addEventHandlers(std::move(nh));
}

DaemonSetController::~DaemonSetController() { stop(); }

void DaemonSetController::start() { controller_->start({dss_, pods_, nodes_, revisions_}); }
void DaemonSetController::stop() { controller_->stop(); }

void DaemonSetController::enqueueAll() {
  for (const auto& key : dss_->keys()) controller_->enqueue(key);
}

std::string DaemonSetController::nodeOfPod(const json& pod) {
  std::string node = strAt(pod, {"spec", "nodeName"});
  if (!node.empty()) return node;
  const json& terms = jsonAt(pod, {"spec", "affinity", "nodeAffinity",
                                   "requiredDuringSchedulingIgnoredDuringExecution",
                                   "nodeSelectorTerms"});
  if (!terms.is_array()) return "";
  for (const auto& t : terms) {
    const json& fields = jsonAt(t, {"matchFields"});
    if (!fields.is_array()) continue;
    for (const auto& f : fields) {
      const json& values = jsonAt(f, {"values"});
      if (f.value("key", "") == "metadata.name" && f.value("operator", "") == "In" &&
          values.is_array() && values.size() == 1 && values[0].is_string())
        return values[0].get<std::string>();
    }
  }
  return "";
}

DaemonSetController::NodeFit DaemonSetController::nodeFit(const json& ds, const json& node) {
  NodeFit fit;
  if (strAt(node, {"metadata", "labels", kComputeTypeLabel}) == "fargate") return fit;
  const json& spec = jsonAt(ds, {"spec", "template", "spec"});
  if (!nodeMatchesPodSpec(spec, node)) return fit;
  json tolerations = jsonAt(spec, {"tolerations"}).is_array() ? spec["tolerations"] : json::array();
  for (const auto& t : defaultTolerations()) tolerations.push_back(t);
  fit.should_run = fit.should_continue = true;
  const json& taints = jsonAt(node, {"spec", "taints"});
  if (!taints.is_array()) return fit;
  for (const auto& taint : taints) {
    std::string effect = taint.value("effect", "");
    if (effect != "NoSchedule" && effect != "NoExecute") continue;
    if (toleratesTaint(tolerations, taint)) continue;
    fit.should_run = false;
    if (effect == "NoExecute") fit.should_continue = false;
  }
  return fit;
}

json DaemonSetController::podSpecForNode(const json& template_spec, const std::string& node) {
  json spec = template_spec.is_object() ? template_spec : json::object();
  json& tols = spec["tolerations"];
  if (!tols.is_array()) tols = json::array();
  for (const auto& t : defaultTolerations()) {
    bool present = false;
    for (const auto& have : tols)
      if (have.value("key", "") == t["key"] && have.value("effect", "") == t["effect"]) present = true;
    if (!present) tols.push_back(t);
  }
  json& affinity = spec["affinity"];
  if (!affinity.is_object()) affinity = json::object();
  json& na = affinity["nodeAffinity"];
  if (!na.is_object()) na = json::object();
  na["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {"nodeSelectorTerms",
       json::array({{{"matchFields",
                      json::array({{{"key", "metadata.name"}, {"operator", "In"},
                                    {"values", json::array({node})}}})}}})}};
  return spec;
}

// The rolling update's inputs gathered node by node, decided once the desired count is known.
struct DaemonSetController::RollingState {
  int64_t unavailable_nodes = 0;
  // maxSurge = 0: old-hash pods that could be replaced, split by availability.
  std::vector<ObjectPtr> old_unavailable, old_available;
  // maxSurge > 0 (upstream's surge): nodes whose old pod is unavailable get a new pod at once;
  // candidates (old pod available) get one while fewer than maxSurge nodes are surging.
  std::vector<std::string> surge_allowed, surge_candidates;
  int64_t surging = 0;  // nodes running an old and a not yet available new pod (or duplicates)
};

void DaemonSetController::judgeSurgeNode(const std::string& node, const std::vector<ObjectPtr>& live,
                                         const std::string& hash, int min_ready, TimePoint now,
                                         Plan& p, RollingState& rs) const {
  // Keep the oldest pod of each hash; the rest are surplus.
  ObjectPtr newest, oldest;
  bool duplicates = false;
  for (const auto& pod : live) {
    ObjectPtr& slot =
        strAt(*pod, {"metadata", "labels", kControllerRevisionHashLabel}) == hash ? newest : oldest;
    if (!slot) {
      slot = pod;
      continue;
    }
    p.deletes.push_back({pod});
    duplicates = true;
  }
  if (duplicates) {
    ++rs.surging;
    return;
  }
  if (!oldest) return;  // up to date, or nothing yet (the create step covers that)
  if (!newest) {
    std::chrono::milliseconds w{0};
    if (podAvailable(*oldest, min_ready, now, &w)) rs.surge_candidates.push_back(node);
    else rs.surge_allowed.push_back(node);
    return;
  }
  std::chrono::milliseconds w{0};
  if (podAvailable(*newest, min_ready, now, &w)) {
    p.deletes.push_back({oldest});  // the replacement is available: the old pod goes
    return;
  }
  ++rs.surging;
  if (w.count() > 0 && (p.wait.count() == 0 || w < p.wait)) p.wait = w;
}

void DaemonSetController::decideRollingUpdate(const json& ds, Plan& p, const RollingState& rs) const {
  const json& ru = jsonAt(ds, {"spec", "updateStrategy", "rollingUpdate"});
  int64_t max_surge = resolveIntOrPercent(jsonAt(ru, {"maxSurge"}), p.desired, true, 0);
  if (max_surge > 0) {
    for (const auto& node : rs.surge_allowed) p.create_on.push_back(node);
    int64_t room = std::max<int64_t>(0, max_surge - rs.surging);
    for (size_t i = 0; i < rs.surge_candidates.size() && room > 0; ++i, --room)
      p.create_on.push_back(rs.surge_candidates[i]);
    return;
  }
  int64_t max_unavailable =
      std::max<int64_t>(1, resolveIntOrPercent(jsonAt(ru, {"maxUnavailable"}), p.desired, true, 1));
  for (const auto& pod : rs.old_unavailable) p.deletes.push_back({pod});
  int64_t budget = max_unavailable - rs.unavailable_nodes;
  for (size_t i = 0; i < rs.old_available.size() && budget > 0; ++i, --budget)
    p.deletes.push_back({rs.old_available[i]});
}

DaemonSetController::Plan DaemonSetController::plan(const json& ds, const std::string& hash) const {
  Plan p;
  std::map<std::string, std::vector<ObjectPtr>> by_node;
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(ds))) {
    const json* ref = controllerRefOfKind(*pod, "DaemonSet");
    if (!ref || ref->value("uid", "") != uidOf(ds)) continue;
    by_node[nodeOfPod(*pod)].push_back(pod);
  }
  std::vector<ObjectPtr> nodes = nodes_->list();
  std::sort(nodes.begin(), nodes.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return nameOf(*a) < nameOf(*b); });
  std::set<std::string> known;
  TimePoint now = clock_->now();
  int min_ready = static_cast<int>(intAt(ds, {"spec", "minReadySeconds"}, 0));
  bool rolling = strAt(ds, {"spec", "updateStrategy", "type"}, "RollingUpdate") == "RollingUpdate";
  bool surge = rolling && resolveIntOrPercent(jsonAt(ds, {"spec", "updateStrategy", "rollingUpdate",
                                                          "maxSurge"}),
                                              100, true, 0) > 0;
  RollingState rs;
  for (const auto& node : nodes) {
    std::string name = nameOf(*node);
    known.insert(name);
    NodeFit fit = nodeFit(ds, *node);
    std::vector<ObjectPtr> live;
    bool any = false;
    for (const auto& pod : by_node[name]) {
      any = true;
      if (isDeleting(*pod)) continue;
      if (terminal(*pod) && fit.should_continue) p.deletes.push_back({pod});
      else live.push_back(pod);
    }
    std::sort(live.begin(), live.end(), olderFirst);
    if (fit.should_run) ++p.desired;
    if (!fit.should_continue) {
      if (!live.empty()) ++p.misscheduled;
      for (const auto& pod : live) p.deletes.push_back({pod});
      continue;
    }
    if (!fit.should_run && !live.empty()) ++p.misscheduled;
    if (fit.should_run && !any) p.create_on.push_back(name);
    bool surge_node = surge && fit.should_run;
    if (surge_node) judgeSurgeNode(name, live, hash, min_ready, now, p, rs);
    else
      for (size_t i = 1; i < live.size(); ++i) p.deletes.push_back({live[i]});
    if (!fit.should_run) continue;
    if (live.empty()) {
      ++rs.unavailable_nodes;
      continue;
    }
    // Status follows the oldest pod, as upstream's.
    const json& pod = *live[0];
    ++p.current;
    bool current_hash = strAt(pod, {"metadata", "labels", kControllerRevisionHashLabel}) == hash;
    if (current_hash) ++p.updated;
    if (podReady(pod)) ++p.ready;
    std::chrono::milliseconds w{0};
    bool avail = podAvailable(pod, min_ready, now, &w);
    if (avail) ++p.available;
    else ++rs.unavailable_nodes;
    if (w.count() > 0 && (p.wait.count() == 0 || w < p.wait)) p.wait = w;
    if (rolling && !surge_node && !current_hash)
      (avail ? rs.old_available : rs.old_unavailable).push_back(live[0]);
  }
  for (const auto& [node, pods] : by_node) {
    if (known.count(node)) continue;
    for (const auto& pod : pods) {
      // A pod bound to a vanished node is force-deleted (no kubelet will confirm a graceful
      // delete), even when already terminating; an unbound one goes the normal way.
      bool bound = !strAt(*pod, {"spec", "nodeName"}).empty();
      if (isDeleting(*pod) &&
          (!bound || intAt(*pod, {"metadata", "deletionGracePeriodSeconds"}, 1) == 0))
        continue;
      p.deletes.push_back({pod, bound});
    }
  }
  if (rolling) decideRollingUpdate(ds, p, rs);
  return p;
}

Status DaemonSetController::execute(const std::string& key, const json& ds, const std::string& hash,
                                    const Plan& p) {
  std::string ns = namespaceOf(ds);
  Status first_err;
  if (!p.deletes.empty()) {
    size_t n = std::min<size_t>(p.deletes.size(), static_cast<size_t>(config_.burst_replicas));
    std::set<std::string> keys;
    for (size_t i = 0; i < n; ++i) keys.insert(client::objectKey(*p.deletes[i].pod));
    expectations_.expectDeletions(key, keys);
    for (size_t i = 0; i < n; ++i) {
      const json& pod = *p.deletes[i].pod;
      json opts = {{"preconditions", {{"uid", uidOf(pod)}}}};
      if (p.deletes[i].force) opts["gracePeriodSeconds"] = 0;
      auto r = client_->remove(podsResource(), ns, nameOf(pod), opts);
      if (r.isOk()) recordEvent(config_.recorder, ds, false, "SuccessfulDelete", "Deleted pod: " + nameOf(pod));
      if (!r.isOk()) {
        expectations_.deletionObserved(key, client::objectKey(pod));
        if (r.status().code() != Code::kNotFound && first_err.isOk()) first_err = r.status();
      }
    }
    BLOG(2, "deleted daemon pods").kv("daemonset", key).kv("count", n);
    return first_err.isOk() ? first_err : first_err.withContext("deleting pods of " + key);
  }
  if (p.create_on.empty()) return Status::ok();
  size_t n = std::min<size_t>(p.create_on.size(), static_cast<size_t>(config_.burst_replicas));
  expectations_.expectCreations(key, static_cast<int>(n));
  const json& tmpl = jsonAt(ds, {"spec", "template"});
  for (size_t i = 0; i < n; ++i) {
    json m = json::object();
    m["generateName"] = nameOf(ds) + "-";
    m["namespace"] = ns;
    const json& tm = jsonAt(tmpl, {"metadata"});
    m["labels"] = jsonAt(tm, {"labels"}).is_object() ? tm["labels"] : json::object();
    m["labels"][kControllerRevisionHashLabel] = hash;
    if (jsonAt(tm, {"annotations"}).is_object()) m["annotations"] = tm["annotations"];
    m["ownerReferences"] = json::array({controllerRefTo("apps/v1", "DaemonSet", ds)});
    json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", m},
                {"spec", podSpecForNode(jsonAt(tmpl, {"spec"}), p.create_on[i])}};
    auto r = client_->create(podsResource(), ns, pod);
    if (r.isOk()) recordEvent(config_.recorder, ds, false, "SuccessfulCreate", "Created pod: " + nameOf(*r));
    if (!r.isOk()) {
      recordEvent(config_.recorder, ds, true, "FailedCreate", "Error creating: " + r.status().message());
      expectations_.creationObserved(key);
      if (first_err.isOk()) first_err = r.status();
    }
  }
  BLOG(2, "created daemon pods").kv("daemonset", key).kv("count", n);
  return first_err.isOk() ? first_err : first_err.withContext("creating pods for " + key);
}

ReconcileResult DaemonSetController::syncStatus(const std::string& key, const json& ds, const Plan& p) {
  json status = jsonAt(ds, {"status"}).is_object() ? ds["status"] : json::object();
  json next = status;
  next["desiredNumberScheduled"] = p.desired;
  next["currentNumberScheduled"] = p.current;
  next["numberMisscheduled"] = p.misscheduled;
  next["numberReady"] = p.ready;
  next["updatedNumberScheduled"] = p.updated;
  next["numberAvailable"] = p.available;
  if (p.desired - p.available > 0) next["numberUnavailable"] = p.desired - p.available;
  else next.erase("numberUnavailable");
  if (jsonAt(ds, {"metadata", "generation"}).is_number_integer())
    next["observedGeneration"] = ds["metadata"]["generation"];
  if (next != status) {
    json copy = ds;
    copy["status"] = next;
    auto r = client_->update(res::daemonSets(), namespaceOf(ds), nameOf(ds), copy, "status");
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return ReconcileResult::fail(r.status().withContext("updating status of " + key));
  }
  if (p.wait.count() > 0) return ReconcileResult::after(p.wait + std::chrono::milliseconds(100));
  return ReconcileResult::ok();
}

Status DaemonSetController::syncRevisions(const std::string& key, const json& ds,
                                          const std::string& hash) {
  RevisionSync s{"apps/v1", "DaemonSet", nameOf(ds) + "-" + hash, hash, {}};
  // A revision some pod still runs is kept whatever the history limit.
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(ds)))
    s.in_use.insert(nameOf(ds) + "-" + strAt(*pod, {"metadata", "labels", kControllerRevisionHashLabel}));
  Status st = controllers::syncRevisions(client_, ownedRevisions(revisions_, ds, "DaemonSet"), ds, s);
  return st.isOk() ? st : st.withContext("revisions of " + key);
}

ReconcileResult DaemonSetController::reconcile(const std::string& key) {
  ObjectPtr cached = dss_->get(key);
  if (!cached) {
    expectations_.forget(key);
    return ReconcileResult::ok();
  }
  const json& ds = *cached;
  if (selectorEmpty(jsonAt(ds, {"spec", "selector"}))) {
    BLOG(2, "daemonset has an empty selector, ignoring").kv("daemonset", key);
    return ReconcileResult::ok();
  }
  std::optional<int64_t> collisions;
  if (jsonAt(ds, {"status", "collisionCount"}).is_number_integer())
    collisions = ds["status"]["collisionCount"].get<int64_t>();
  std::string hash = DeploymentController::podTemplateHash(jsonAt(ds, {"spec", "template"}), collisions);
  if (!isDeleting(ds)) {
    Status rs = syncRevisions(key, ds, hash);
    if (!rs.isOk()) return ReconcileResult::fail(rs);
  }
  Plan p = plan(ds, hash);
  Status st;
  if (expectations_.satisfied(key) && !isDeleting(ds)) st = execute(key, ds, hash, p);
  ReconcileResult r = syncStatus(key, ds, p);
  if (!r.error.isOk()) return r;
  if (!st.isOk()) return ReconcileResult::fail(st);
  return r;
}

}  // namespace berth::controllers
