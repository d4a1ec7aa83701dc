#include "controllers/statefulset_controller.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>

#include "client/event_recorder.h"
#include "common/log.h"
#include "controllers/controller_revisions.h"
#include "controllers/daemonset_controller.h"
#include "controllers/deployment_controller.h"
#include "controllers/owned_pods.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

const char kStatefulSetPodNameLabel[] = "statefulset.kubernetes.io/pod-name";
const char kPodIndexLabel[] = "apps.kubernetes.io/pod-index";

namespace {

bool terminal(const json& pod) {
  std::string phase = strAt(pod, {"status", "phase"});
  return phase == "Succeeded" || phase == "Failed";
}

bool runningAndReady(const json& pod) {
  return strAt(pod, {"status", "phase"}) == "Running" && podReady(pod);
}

std::string revisionOf(const json& pod) {
  return strAt(pod, {"metadata", "labels", kControllerRevisionHashLabel});
}

}  // namespace

// The revisions a reconcile works with: the update revision (the template as it is now) and the
// current one (what the pods ran before; the same until an update starts).
struct StatefulSetController::Revisions {
  std::string update_name;
  std::string current_name;
  json update_template;
  json current_template;
};

// What one reconcile decided, from the cache as it is.
struct StatefulSetController::Plan {
  std::vector<int64_t> create;     // ordinals
  std::vector<ObjectPtr> deletes;  // pods
  int64_t replicas = 0, ready = 0, available = 0, current = 0, updated = 0;
  std::chrono::milliseconds wait{0};  // until a ready pod becomes available
};

StatefulSetController::StatefulSetController(client::Client* client,
                                             client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      expectations_(clock_, config_.expectations_ttl) {
  controller_ = Controller::forConfig("statefulset", config_, [this](const std::string& k) { return reconcile(k); });
  sets_ = informers->informerFor(res::statefulSets());
  pods_ = informers->informerFor(podsResource());
  revisions_ = informers->informerFor(res::controllerRevisions());
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  revisions_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers sh = controller_->keyHandlers(false);
  sh.on_delete = [this](const ObjectPtr& o) {
    expectations_.forget(client::objectKey(*o));
    std::lock_guard<std::mutex> lock(mu_);
    warned_claims_.erase(uidOf(*o));
  };
  sets_->addEventHandlers(std::move(sh));

  pods_->addEventHandlers(ownedPodHandlers("StatefulSet", "apps", sets_, &expectations_, controller_.get()));
}

StatefulSetController::~StatefulSetController() { stop(); }

void StatefulSetController::start() { controller_->start({sets_, pods_, revisions_}); }
void StatefulSetController::stop() { controller_->stop(); }

int64_t StatefulSetController::ordinalOf(const std::string& sts_name, const std::string& pod_name) {
  if (pod_name.size() <= sts_name.size() + 1 || pod_name.compare(0, sts_name.size(), sts_name) != 0 ||
      pod_name[sts_name.size()] != '-')
    return -1;
  std::string digits = pod_name.substr(sts_name.size() + 1);
  if (digits.size() > 9 || (digits.size() > 1 && digits[0] == '0')) return -1;
  int64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

Result<StatefulSetController::Revisions> StatefulSetController::revisions(const std::string& key,
                                                                         const json& sts) {
  std::optional<int64_t> collisions;
  if (jsonAt(sts, {"status", "collisionCount"}).is_number_integer())
    collisions = sts["status"]["collisionCount"].get<int64_t>();
  const json& tmpl = jsonAt(sts, {"spec", "template"});
  std::string hash = DeploymentController::podTemplateHash(tmpl, collisions);
  Revisions revs;
  revs.update_name = nameOf(sts) + "-" + hash;
  revs.update_template = tmpl;
  std::vector<ObjectPtr> owned = ownedRevisions(revisions_, sts, "StatefulSet");
  RevisionSync s{"apps/v1", "StatefulSet", revs.update_name, hash, {}};
  std::string status_current = strAt(sts, {"status", "currentRevision"});
  if (!status_current.empty()) s.in_use.insert(status_current);
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(sts))) s.in_use.insert(revisionOf(*pod));
  Status st = syncRevisions(client_, owned, sts, s);
  if (!st.isOk()) return st.withContext("revisions of " + key);
  revs.current_name = revs.update_name;
  revs.current_template = tmpl;
  for (const auto& r : owned) {
    if (nameOf(*r) == status_current && status_current != revs.update_name) {
      revs.current_name = status_current;
      revs.current_template = templateOfRevision(*r);
    }
  }
  return revs;
}

StatefulSetController::Plan StatefulSetController::plan(const json& sts, const Revisions& revs) const {
  Plan p;
  const std::string name = nameOf(sts);
  const int64_t start = intAt(sts, {"spec", "ordinals", "start"}, 0);
  const int64_t replicas = intAt(sts, {"spec", "replicas"}, 1);
  const bool monotonic = strAt(sts, {"spec", "podManagementPolicy"}, "OrderedReady") != "Parallel";
  const int min_ready = static_cast<int>(intAt(sts, {"spec", "minReadySeconds"}, 0));
  const TimePoint now = clock_->now();
  std::map<int64_t, ObjectPtr> in_range;
  std::vector<std::pair<int64_t, ObjectPtr>> condemned;
  for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(sts))) {
    const json* ref = controllerRefOfKind(*pod, "StatefulSet");
    if (!ref || ref->value("uid", "") != uidOf(sts)) continue;
    int64_t ord = ordinalOf(name, nameOf(*pod));
    if (ord >= start && ord < start + replicas) in_range[ord] = pod;
    else condemned.emplace_back(ord < 0 ? INT64_MAX : ord, pod);
    // Status, as upstream counts it: every created pod, ready ones, and by revision.
    if (strAt(*pod, {"status", "phase"}).empty()) continue;
    ++p.replicas;
    if (runningAndReady(*pod)) {
      ++p.ready;
      std::chrono::milliseconds w{0};
      if (podAvailable(*pod, min_ready, now, &w)) ++p.available;
      if (w.count() > 0 && (p.wait.count() == 0 || w < p.wait)) p.wait = w;
    }
    if (isDeleting(*pod)) continue;
    if (revisionOf(*pod) == revs.current_name) ++p.current;
    if (revisionOf(*pod) == revs.update_name) ++p.updated;
  }

  bool blocked = false;
  for (int64_t ord = start; ord < start + replicas && !blocked; ++ord) {
    auto it = in_range.find(ord);
    if (it == in_range.end()) {
      p.create.push_back(ord);
      blocked = monotonic;
    } else if (isDeleting(*it->second)) {
      blocked = monotonic;  // recreated once gone
    } else if (terminal(*it->second)) {
      p.deletes.push_back(it->second);
      blocked = monotonic;
    } else if (!runningAndReady(*it->second)) {
      blocked = monotonic;
    }
  }
  // Scale down: the highest ordinal first.
  std::sort(condemned.begin(), condemned.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < condemned.size() && !blocked; ++i) {
    if (!isDeleting(*condemned[i].second)) p.deletes.push_back(condemned[i].second);
    blocked = monotonic;
  }
  if (blocked || !p.create.empty() || !p.deletes.empty()) return p;
  if (strAt(sts, {"spec", "updateStrategy", "type"}, "RollingUpdate") != "RollingUpdate") return p;
  int64_t partition = intAt(sts, {"spec", "updateStrategy", "rollingUpdate", "partition"}, 0);
  for (int64_t ord = start + replicas - 1; ord >= start + std::max<int64_t>(partition, 0); --ord) {
    auto it = in_range.find(ord);
    if (it == in_range.end()) break;
    const json& pod = *it->second;
    if (revisionOf(pod) != revs.update_name && !isDeleting(pod)) {
      p.deletes.push_back(it->second);
      break;
    }
    if (!runningAndReady(pod) || isDeleting(pod)) break;
  }
  return p;
}

json StatefulSetController::newPod(const json& sts, const Revisions& revs, int64_t ordinal) const {
  const int64_t start = intAt(sts, {"spec", "ordinals", "start"}, 0);
  bool rolling = strAt(sts, {"spec", "updateStrategy", "type"}, "RollingUpdate") == "RollingUpdate";
  int64_t partition = intAt(sts, {"spec", "updateStrategy", "rollingUpdate", "partition"}, 0);
  bool at_current = rolling && ordinal - start < partition && revs.current_template.is_object();
  const json& tmpl = at_current ? revs.current_template : revs.update_template;
  std::string pod_name = nameOf(sts) + "-" + std::to_string(ordinal);
  json m = json::object();
  m["name"] = pod_name;
  m["namespace"] = namespaceOf(sts);
  const json& tm = jsonAt(tmpl, {"metadata"});
  m["labels"] = jsonAt(tm, {"labels"}).is_object() ? tm["labels"] : json::object();
  m["labels"][kStatefulSetPodNameLabel] = pod_name;
  m["labels"][kPodIndexLabel] = std::to_string(ordinal);
  m["labels"][kControllerRevisionHashLabel] = at_current ? revs.current_name : revs.update_name;
  if (jsonAt(tm, {"annotations"}).is_object()) m["annotations"] = tm["annotations"];
  m["ownerReferences"] = json::array({controllerRefTo("apps/v1", "StatefulSet", sts)});
  json spec = jsonAt(tmpl, {"spec"}).is_object() ? tmpl["spec"] : json::object();
  spec["hostname"] = pod_name;
  std::string service = strAt(sts, {"spec", "serviceName"});
  if (!service.empty()) spec["subdomain"] = service;
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", m}, {"spec", spec}};
}

Status StatefulSetController::execute(const std::string& key, const json& sts,
                                      const Revisions& revs, const Plan& p) {
  const std::string ns = namespaceOf(sts);
  const std::string set = "StatefulSet " + nameOf(sts);
  Status first_err;
  if (!p.deletes.empty()) {
    std::set<std::string> keys;
    for (const auto& pod : p.deletes) keys.insert(client::objectKey(*pod));
    expectations_.expectDeletions(key, keys);
  }
  for (const auto& pod : p.deletes) {
    auto r = client_->remove(podsResource(), ns, nameOf(*pod), {{"preconditions", {{"uid", uidOf(*pod)}}}});
    if (r.isOk()) {
      recordEvent(config_.recorder, sts, false, "SuccessfulDelete",
                  "delete Pod " + nameOf(*pod) + " in " + set + " successful");
      BLOG(2, "deleted stateful pod").kv("statefulset", key).kv("pod", nameOf(*pod));
      continue;
    }
    expectations_.deletionObserved(key, client::objectKey(*pod));
    if (r.status().code() == Code::kNotFound || r.status().code() == Code::kConflict) continue;
    recordEvent(config_.recorder, sts, true, "FailedDelete",
                "delete Pod " + nameOf(*pod) + " in " + set + " failed error: " + r.status().message());
    if (first_err.isOk()) first_err = r.status().withContext("deleting pod " + nameOf(*pod));
  }
  if (!p.create.empty()) expectations_.expectCreations(key, static_cast<int>(p.create.size()));
  for (int64_t ord : p.create) {
    json pod = newPod(sts, revs, ord);
    std::string pod_name = nameOf(pod);
    auto r = client_->create(podsResource(), ns, pod);
    if (r.isOk()) {
      recordEvent(config_.recorder, sts, false, "SuccessfulCreate",
                  "create Pod " + pod_name + " in " + set + " successful");
      BLOG(2, "created stateful pod").kv("statefulset", key).kv("pod", pod_name);
      continue;
    }
    expectations_.creationObserved(key);
    if (r.status().code() == Code::kAlreadyExists) continue;  // the cache will show it
    recordEvent(config_.recorder, sts, true, "FailedCreate",
                "create Pod " + pod_name + " in " + set + " failed error: " + r.status().message());
    if (first_err.isOk()) first_err = r.status().withContext("creating pod " + pod_name);
  }
  return first_err;
}

ReconcileResult StatefulSetController::syncStatus(const std::string& key, const json& sts,
                                                  const Revisions& revs, const Plan& p) {
  json status = jsonAt(sts, {"status"}).is_object() ? sts["status"] : json::object();
  json next = status;
  next["replicas"] = p.replicas;
  next["readyReplicas"] = p.ready;
  next["availableReplicas"] = p.available;
  next["currentReplicas"] = p.current;
  next["updatedReplicas"] = p.updated;
  next["currentRevision"] = revs.current_name;
  next["updateRevision"] = revs.update_name;
  // A finished rolling update: every pod runs the update revision and is ready.
  bool rolling = strAt(sts, {"spec", "updateStrategy", "type"}, "RollingUpdate") == "RollingUpdate";
  if (rolling && p.updated == p.replicas && p.ready == p.replicas) {
    next["currentRevision"] = revs.update_name;
    next["currentReplicas"] = p.updated;
  }
  if (jsonAt(sts, {"metadata", "generation"}).is_number_integer())
    next["observedGeneration"] = sts["metadata"]["generation"];
  if (next != status) {
    json copy = sts;
    copy["status"] = next;
    auto r = client_->update(res::statefulSets(), namespaceOf(sts), nameOf(sts), copy, "status");
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return ReconcileResult::fail(r.status().withContext("updating status of " + key));
  }
  if (p.wait.count() > 0) return ReconcileResult::after(p.wait + std::chrono::milliseconds(100));
  return ReconcileResult::ok();
}

void StatefulSetController::warnUnprovisionedClaims(const json& sts) {
  const json& claims = jsonAt(sts, {"spec", "volumeClaimTemplates"});
  if (!claims.is_array() || claims.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!warned_claims_.insert(uidOf(sts)).second) return;
  }
  std::string names;
  for (const auto& c : claims) names += (names.empty() ? "" : ", ") + strAt(c, {"metadata", "name"});
  recordEvent(config_.recorder, sts, true, "ClaimsNotProvisioned",
              "volumeClaimTemplates [" + names +
                  "] are stored but not provisioned: this cluster creates no claims and has no "
                  "volume provisioner");
}

ReconcileResult StatefulSetController::reconcile(const std::string& key) {
  ObjectPtr cached = sets_->get(key);
  if (!cached) {
    expectations_.forget(key);
    return ReconcileResult::ok();
  }
  const json& sts = *cached;
  if (isDeleting(sts)) return ReconcileResult::ok();
  if (selectorEmpty(jsonAt(sts, {"spec", "selector"}))) {
    BLOG(2, "statefulset has an empty selector, ignoring").kv("statefulset", key);
    return ReconcileResult::ok();
  }
  warnUnprovisionedClaims(sts);
  auto revs = revisions(key, sts);
  if (!revs.isOk()) return ReconcileResult::fail(revs.status());
  Plan p = plan(sts, *revs);
  Status st;
  if (expectations_.satisfied(key)) st = execute(key, sts, *revs, p);
  ReconcileResult r = syncStatus(key, sts, *revs, p);
  if (!r.error.isOk()) return r;
  if (!st.isOk()) return ReconcileResult::fail(st);
  return r;
}

}  // namespace berth::controllers
