#include "controllers/daemonset_controller.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "controllers/deployment_controller.h"
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
  Controller::Options co;
  co.name = "daemonset";
  co.workers = config_.workers;
  co.queue = config_.queue;
  controller_ = std::make_unique<Controller>(co, [this](const std::string& k) { return reconcile(k); });
  dss_ = informers->informerFor(res::daemonSets());
  pods_ = informers->informerFor(podsResource());
  nodes_ = informers->informerFor(res::nodes());
  revisions_ = informers->informerFor(res::controllerRevisions());
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  revisions_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers dh = controller_->keyHandlers(false);
  dh.on_delete = [this](const ObjectPtr& o) { expectations_.forget(client::objectKey(*o)); };
  dss_->addEventHandlers(std::move(dh));

  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr& o) { onPodEvent(*o, true, false); };
  ph.on_update = [this](const ObjectPtr& old_pod, const ObjectPtr& o) {
    if (*old_pod != *o) onPodEvent(*o, false, false);
  };
  ph.on_delete = [this](const ObjectPtr& o) { onPodEvent(*o, false, true); };
  pods_->addEventHandlers(std::move(ph));

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

std::string DaemonSetController::dsKeyFor(const json& pod) const {
  const json* ref = controllerRefOfKind(pod, "DaemonSet");
  if (!ref || ref->value("apiVersion", "").rfind("apps/", 0) != 0) return "";
  std::string key = namespaceOf(pod) + "/" + ref->value("name", "");
  ObjectPtr ds = dss_->get(key);
  return ds && uidOf(*ds) == ref->value("uid", "") ? key : "";
}

void DaemonSetController::onPodEvent(const json& pod, bool added, bool deleted) {
  std::string key = dsKeyFor(pod);
  if (key.empty()) return;
  if (added) expectations_.creationObserved(key);
  if (deleted || isDeleting(pod)) expectations_.deletionObserved(key, client::objectKey(pod));
  controller_->enqueue(key);
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
  // Old-hash pods that could be replaced, split by availability.
  std::vector<ObjectPtr> old_unavailable, old_available;
  int64_t unavailable_nodes = 0;
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
    for (size_t i = 1; i < live.size(); ++i) p.deletes.push_back({live[i]});
    if (!fit.should_run) continue;
    if (live.empty()) {
      ++unavailable_nodes;
      continue;
    }
    const json& pod = *live[0];
    ++p.current;
    bool current_hash = strAt(pod, {"metadata", "labels", kControllerRevisionHashLabel}) == hash;
    if (current_hash) ++p.updated;
    if (podReady(pod)) ++p.ready;
    std::chrono::milliseconds w{0};
    bool avail = podAvailable(pod, min_ready, now, &w);
    if (avail) ++p.available;
    else ++unavailable_nodes;
    if (w.count() > 0 && (p.wait.count() == 0 || w < p.wait)) p.wait = w;
    if (rolling && !current_hash) (avail ? old_available : old_unavailable).push_back(live[0]);
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
  if (rolling) {
    const json& ru = jsonAt(ds, {"spec", "updateStrategy", "rollingUpdate"});
    int64_t max_unavailable =
        std::max<int64_t>(1, resolveIntOrPercent(jsonAt(ru, {"maxUnavailable"}), p.desired, true, 1));
    for (const auto& pod : old_unavailable) p.deletes.push_back({pod});
    int64_t budget = max_unavailable - unavailable_nodes;
    for (size_t i = 0; i < old_available.size() && budget > 0; ++i, --budget)
      p.deletes.push_back({old_available[i]});
  }
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
  std::vector<ObjectPtr> owned;
  for (const auto& r : revisions_->byIndex(client::kIndexOwnerUid, uidOf(ds))) {
    const json* ref = controllerRefOfKind(*r, "DaemonSet");
    if (ref && ref->value("uid", "") == uidOf(ds)) owned.push_back(r);
  }
  const std::string name = nameOf(ds) + "-" + hash;
  int64_t max_rev = 0;
  ObjectPtr current;
  for (const auto& r : owned) {
    max_rev = std::max(max_rev, intAt(*r, {"revision"}, 0));
    if (nameOf(*r) == name) current = r;
  }
  if (current && intAt(*current, {"revision"}, 0) < max_rev) {
    // The template went back to an older revision: it becomes the newest.
    json patch = {{"revision", max_rev + 1}};
    auto r = client_->patch(res::controllerRevisions(), namespaceOf(ds), name, client::PatchType::kMerge, patch);
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return r.status().withContext("renumbering revision " + name);
  } else if (!current) {
    json tmpl = jsonAt(ds, {"spec", "template"}).is_object() ? ds["spec"]["template"] : json::object();
    json labels = jsonAt(tmpl, {"metadata", "labels"}).is_object() ? tmpl["metadata"]["labels"] : json::object();
    labels[kControllerRevisionHashLabel] = hash;
    tmpl["$patch"] = "replace";
    json meta = {{"name", name}, {"namespace", namespaceOf(ds)}, {"labels", labels},
                 {"ownerReferences", json::array({controllerRefTo("apps/v1", "DaemonSet", ds)})}};
    if (jsonAt(ds, {"metadata", "annotations"}).is_object()) {
      json ann = ds["metadata"]["annotations"];
      ann.erase("kubectl.kubernetes.io/last-applied-configuration");
      if (!ann.empty()) meta["annotations"] = ann;
    }
    json rev = {{"apiVersion", "apps/v1"}, {"kind", "ControllerRevision"}, {"metadata", meta},
                {"data", {{"spec", {{"template", tmpl}}}}}, {"revision", max_rev + 1}};
    auto r = client_->create(res::controllerRevisions(), namespaceOf(ds), rev);
    if (!r.isOk() && r.status().code() != Code::kAlreadyExists)
      return r.status().withContext("creating revision " + name);
    if (r.isOk()) BLOG(2, "created controller revision").kv("daemonset", key).kv("revision", max_rev + 1);
  }
  // Prune the oldest revisions beyond the history limit that no pod still runs.
  int64_t limit = intAt(ds, {"spec", "revisionHistoryLimit"}, 10);
  std::set<std::string> live;
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(ds)))
    live.insert(strAt(*pod, {"metadata", "labels", kControllerRevisionHashLabel}));
  std::vector<ObjectPtr> old;
  for (const auto& r : owned)
    if (nameOf(*r) != name && !live.count(strAt(*r, {"metadata", "labels", kControllerRevisionHashLabel})))
      old.push_back(r);
  std::sort(old.begin(), old.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
    return intAt(*a, {"revision"}, 0) < intAt(*b, {"revision"}, 0);
  });
  for (size_t i = 0; i + limit < old.size(); ++i) {
    auto r = client_->remove(res::controllerRevisions(), namespaceOf(ds), nameOf(*old[i]),
                             {{"preconditions", {{"uid", uidOf(*old[i])}}}});
    if (!r.isOk() && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
      return r.status().withContext("pruning revision " + nameOf(*old[i]));
  }
  return Status::ok();
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
