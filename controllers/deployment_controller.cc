#include "controllers/deployment_controller.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

using client::ObjectPtr;

const char kPodTemplateHashLabel[] = "pod-template-hash";
const char kRevisionAnnotation[] = "deployment.kubernetes.io/revision";
const char kDesiredReplicasAnnotation[] = "deployment.kubernetes.io/desired-replicas";
const char kMaxReplicasAnnotation[] = "deployment.kubernetes.io/max-replicas";

namespace {

const char kRevisionHistoryAnnotation[] = "deployment.kubernetes.io/revision-history";
const char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";

json& metaOf(json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = json::object();
  return obj["metadata"];
}
const json& meta(const json& obj) {
  static const json kEmpty = json::object();
  return obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"]
                                                                                    : kEmpty;
}
const json& field(const json& obj, const char* a, const char* b = nullptr) {
  static const json kNull;
  if (!obj.is_object() || !obj.contains(a)) return kNull;
  const json& x = obj[a];
  if (!b) return x;
  if (!x.is_object() || !x.contains(b)) return kNull;
  return x[b];
}
int64_t intField(const json& obj, const char* a, const char* b, int64_t def) {
  const json& v = field(obj, a, b);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}
std::string name(const json& o) { return meta(o).value("name", ""); }
std::string nsOf(const json& o) { return meta(o).value("namespace", ""); }
std::string uidOf(const json& o) { return meta(o).value("uid", ""); }

int64_t specReplicas(const json& o) { return intField(o, "spec", "replicas", 1); }
int64_t statusInt(const json& o, const char* f) { return intField(o, "status", f, 0); }

int64_t revisionOf(const json& rs) {
  const json& a = field(rs, "metadata", "annotations");
  if (!a.is_object() || !a.contains(kRevisionAnnotation) || !a[kRevisionAnnotation].is_string()) return 0;
  try {
    return std::stoll(a[kRevisionAnnotation].get<std::string>());
  } catch (...) {
    return 0;
  }
}

bool isRecreate(const json& d) {
  const json& s = field(d, "spec", "strategy");
  return s.is_object() && s.value("type", "") == "Recreate";
}

// Drops null members recursively: a null field means the same as an absent one (as in
// upstream's typed decode), e.g. the `creationTimestamp: null` kubectl sends back on
// `rollout undo` must not make the template look new.
void dropNulls(json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      if (it->is_null()) {
        it = j.erase(it);
      } else {
        dropNulls(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j) dropNulls(e);
  }
}

// The template with the pod-template-hash label removed (labels dropped when then empty) and
// null members dropped.
json templateWithoutHash(json t) {
  dropNulls(t);
  if (t.is_object() && t.contains("metadata") && t["metadata"].is_object() &&
      t["metadata"].contains("labels") && t["metadata"]["labels"].is_object()) {
    t["metadata"]["labels"].erase(kPodTemplateHashLabel);
    if (t["metadata"]["labels"].empty()) t["metadata"].erase("labels");
  }
  return t;
}

bool olderFirst(const json& a, const json& b) {
  std::string ta = meta(a).value("creationTimestamp", ""), tb = meta(b).value("creationTimestamp", "");
  if (ta != tb) return ta < tb;
  return name(a) < name(b);
}

// int or "N%" of `total`.
int64_t intOrPercent(const json& v, int64_t total, bool round_up, int64_t def) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    try {
      if (!s.empty() && s.back() == '%') {
        double pct = std::stod(s.substr(0, s.size() - 1));
        double x = pct * static_cast<double>(total) / 100.0;
        return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
      }
      return std::stoll(s);
    } catch (...) {
    }
  }
  return def;
}

const json* condition(const json& status, const std::string& type) {
  const json& conds = field(status, "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == type) return &c;
  return nullptr;
}

void removeCondition(json& status, const std::string& type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return;
  json kept = json::array();
  for (const auto& c : status["conditions"])
    if (!c.is_object() || c.value("type", "") != type) kept.push_back(c);
  status["conditions"] = kept;
}

// Upstream's SetDeploymentCondition: no change when status and reason are the same; keeps
// lastTransitionTime when only the reason changes.
void setCondition(json& status, const std::string& type, const std::string& cstatus,
                  const std::string& reason, const std::string& message, const std::string& now) {
  json c = {{"type", type}, {"status", cstatus}, {"lastUpdateTime", now},
            {"lastTransitionTime", now}, {"reason", reason}, {"message", message}};
  if (const json* cur = condition(status, type)) {
    if (cur->value("status", "") == cstatus && cur->value("reason", "") == reason) return;
    if (cur->value("status", "") == cstatus && cur->contains("lastTransitionTime"))
      c["lastTransitionTime"] = (*cur)["lastTransitionTime"];
    removeCondition(status, type);
  }
  if (!status.contains("conditions") || !status["conditions"].is_array())
    status["conditions"] = json::array();
  status["conditions"].push_back(c);
}

json deploymentOwnerRef(const json& d) {
  return {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name(d)}, {"uid", uidOf(d)},
          {"controller", true}, {"blockOwnerDeletion", true}};
}

void setAnnotation(json& obj, const std::string& k, const std::string& v) {
  json& m = metaOf(obj);
  if (!m.contains("annotations") || !m["annotations"].is_object()) m["annotations"] = json::object();
  m["annotations"][k] = v;
}

std::string annotation(const json& obj, const std::string& k) {
  const json& a = field(obj, "metadata", "annotations");
  return a.is_object() && a.contains(k) && a[k].is_string() ? a[k].get<std::string>() : "";
}

}  // namespace

// ---- hashing and fenceposts ----

std::string DeploymentController::podTemplateHash(const json& tmpl,
                                                  std::optional<int64_t> collision_count) {
  // FNV-1a (32 bit) over the canonical dump (nlohmann sorts object keys), then the collision
  // count's bytes; upstream hashes a different dump but the shape of the result is the same.
  uint32_t h = 2166136261u;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 16777619u;
  };
  json canonical = tmpl;
  dropNulls(canonical);
  for (unsigned char c : canonical.dump()) mix(c);
  if (collision_count) {
    uint32_t cc = static_cast<uint32_t>(*collision_count);
    for (int i = 0; i < 4; ++i) mix(static_cast<unsigned char>((cc >> (8 * i)) & 0xff));
  }
  // rand.SafeEncodeString(fmt.Sprint(hash)): no vowels, no confusable characters.
  static const char kAlnums[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string dec = std::to_string(h), out;
  for (unsigned char c : dec) out.push_back(kAlnums[c % 27]);
  return out;
}

void DeploymentController::resolveFenceposts(const json& d, int64_t* surge, int64_t* unavailable) {
  *surge = 0;
  *unavailable = 0;
  if (isRecreate(d)) return;
  int64_t replicas = specReplicas(d);
  const json& ru = field(field(d, "spec", "strategy"), "rollingUpdate");
  json s = ru.is_object() && ru.contains("maxSurge") ? ru["maxSurge"] : json("25%");
  json u = ru.is_object() && ru.contains("maxUnavailable") ? ru["maxUnavailable"] : json("25%");
  *surge = std::max<int64_t>(0, intOrPercent(s, replicas, true, 0));
  *unavailable = std::max<int64_t>(0, intOrPercent(u, replicas, false, 0));
  if (*surge == 0 && *unavailable == 0) *unavailable = 1;
  if (*unavailable > replicas) *unavailable = replicas;
}

// ---- controller ----

DeploymentController::DeploymentController(client::Client* client, client::InformerFactory* informers,
                                           Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()) {
  controller_ = Controller::forConfig("deployment", config_, [this](const std::string& k) { return reconcile(k); });
  deployments_ = informers->informerFor(deploymentsResource());
  rss_ = informers->informerFor(replicaSetsResource());
  pods_ = informers->informerFor(podsResource());
  deployments_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  rss_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  rss_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers dh = controller_->keyHandlers(true);
  deployments_->addEventHandlers(std::move(dh));

  client::EventHandlers rh;
  rh.on_add = [this](const ObjectPtr& o) {
    if (controllerRefOf(*o)) enqueueOwner(*o);
    else if (!isDeleting(*o)) enqueueMatching(*o);
  };
  rh.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& o) {
    const json* old_ref = controllerRefOf(*old_obj);
    const json* ref = controllerRefOf(*o);
    if (old_ref && (!ref || old_ref->value("uid", "") != ref->value("uid", ""))) enqueueOwner(*old_obj);
    if (ref) enqueueOwner(*o);
    else if (!isDeleting(*o)) enqueueMatching(*o);
  };
  rh.on_delete = [this](const ObjectPtr& o) { enqueueOwner(*o); };
  rss_->addEventHandlers(std::move(rh));

  // Recreate waits for the old pods to be gone.
  client::EventHandlers ph;
  ph.on_delete = [this](const ObjectPtr& o) {
    const json* ref = controllerRefOf(*o);
    if (!ref || ref->value("kind", "") != "ReplicaSet") return;
    auto rs = rss_->get(nsOf(*o) + "/" + ref->value("name", ""));
    if (rs) enqueueOwner(*rs);
  };
  pods_->addEventHandlers(std::move(ph));
}

DeploymentController::~DeploymentController() { stop(); }

void DeploymentController::start() { controller_->start({deployments_, rss_, pods_}); }
void DeploymentController::stop() { controller_->stop(); }

void DeploymentController::enqueueOwner(const json& rs) {
  const json* ref = controllerRefOf(rs);
  if (!ref || ref->value("kind", "") != "Deployment") return;
  std::string key = nsOf(rs) + "/" + ref->value("name", "");
  auto d = deployments_->get(key);
  if (d && uidOf(*d) == ref->value("uid", "")) controller_->enqueue(key);
}

void DeploymentController::enqueueMatching(const json& rs) {
  const json& labels = field(rs, "metadata", "labels");
  for (const auto& d : deployments_->byIndex(client::kIndexNamespace, nsOf(rs))) {
    const json& sel = field(*d, "spec", "selector");
    if (!selectorEmpty(sel) && selectorMatches(sel, labels)) controller_->enqueue(client::objectKey(*d));
  }
}

Result<std::vector<json>> DeploymentController::claimReplicaSets(const json& d) {
  std::vector<json> out;
  const json& sel = field(d, "spec", "selector");
  for (const auto& rs : rss_->byIndex(client::kIndexNamespace, nsOf(d))) {
    const json* ref = controllerRefOf(*rs);
    if (ref) {
      if (ref->value("uid", "") == uidOf(d)) out.push_back(*rs);
      continue;
    }
    if (isDeleting(d) || isDeleting(*rs) || !selectorMatches(sel, field(*rs, "metadata", "labels")))
      continue;
    json refs = field(*rs, "metadata", "ownerReferences").is_array()
                    ? field(*rs, "metadata", "ownerReferences") : json::array();
    refs.push_back(deploymentOwnerRef(d));
    json patch = json::array();
    patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                     {"value", meta(*rs).value("resourceVersion", "")}});
    patch.push_back({{"op", "add"}, {"path", "/metadata/ownerReferences"}, {"value", refs}});
    auto res = client_->patch(replicaSetsResource(), nsOf(d), name(*rs), client::PatchType::kJson, patch);
    if (!res.isOk()) {
      if (res.status().code() == Code::kNotFound) continue;
      return res.status().withContext("adopting replicaset " + client::objectKey(*rs));
    }
    BLOG(2, "adopted replicaset").kv("deployment", client::objectKey(d)).kv("replicaset", name(*rs));
    json adopted = *rs;
    metaOf(adopted)["ownerReferences"] = refs;
    out.push_back(adopted);
  }
  std::sort(out.begin(), out.end(), olderFirst);
  return out;
}

int64_t DeploymentController::newReplicasFor(const Rollout& ro, int64_t current_new) const {
  int64_t replicas = specReplicas(ro.d);
  if (isRecreate(ro.d)) return replicas;
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  int64_t current = current_new;
  for (const auto& rs : ro.old_rss) current += specReplicas(rs);
  int64_t max_total = replicas + surge;
  if (current >= max_total) return current_new;
  int64_t up = std::min(max_total - current, replicas - current_new);
  return current_new + std::max<int64_t>(0, up);
}

std::optional<size_t> DeploymentController::findNewReplicaSet(const json& d,
                                                              const std::vector<json>& rss) {
  const json& tmpl = field(d, "spec", "template");
  for (size_t i = 0; i < rss.size(); ++i)  // oldest first: the oldest match wins, as upstream
    if (templateWithoutHash(field(rss[i], "spec", "template")) == templateWithoutHash(tmpl)) return i;
  std::optional<int64_t> cc;
  if (field(d, "status", "collisionCount").is_number_integer())
    cc = field(d, "status", "collisionCount").get<int64_t>();
  // Our own RS for this hash whose template differs only by server defaulting still counts:
  // never create a second ReplicaSet for the same template.
  std::string want = name(d) + "-" + podTemplateHash(tmpl, cc);
  for (size_t i = 0; i < rss.size(); ++i)
    if (name(rss[i]) == want) return i;
  return std::nullopt;
}

bool DeploymentController::isScalingEvent(const json& d, const std::vector<json>& rss) {
  // As upstream: an active ReplicaSet whose desired-replicas annotation is not spec.replicas.
  std::string want = std::to_string(specReplicas(d));
  for (const auto& rs : rss) {
    if (specReplicas(rs) <= 0) continue;
    std::string desired = annotation(rs, kDesiredReplicasAnnotation);
    if (!desired.empty() && desired != want) return true;
  }
  return false;
}

Status DeploymentController::syncRevision(Rollout& ro, std::vector<json> rss, bool create) {
  const json& tmpl = field(ro.d, "spec", "template");
  std::optional<size_t> new_idx = findNewReplicaSet(ro.d, rss);
  std::optional<int64_t> cc;
  if (field(ro.d, "status", "collisionCount").is_number_integer())
    cc = field(ro.d, "status", "collisionCount").get<int64_t>();
  std::string hash = podTemplateHash(tmpl, cc);
  ro.old_rss.clear();
  int64_t max_old = 0;
  for (size_t i = 0; i < rss.size(); ++i) {
    if (new_idx && i == *new_idx) continue;
    max_old = std::max(max_old, revisionOf(rss[i]));
    ro.old_rss.push_back(rss[i]);
  }
  int64_t new_revision = max_old + 1;
  std::string now = formatRfc3339(clock_->now());
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  std::string desired = std::to_string(specReplicas(ro.d));
  std::string max_replicas = std::to_string(specReplicas(ro.d) + surge);

  if (new_idx) {
    json rs = rss[*new_idx];
    json before = rs;
    if (revisionOf(rs) < new_revision) {
      // A rollback to this template: it becomes the newest revision; remember the old one.
      std::string old_rev = annotation(rs, kRevisionAnnotation);
      if (!old_rev.empty()) {
        std::string hist = annotation(rs, kRevisionHistoryAnnotation);
        setAnnotation(rs, kRevisionHistoryAnnotation, hist.empty() ? old_rev : hist + "," + old_rev);
      }
      setAnnotation(rs, kRevisionAnnotation, std::to_string(new_revision));
    }
    // desired/max-replicas change only with the size (scaleReplicaSet): scale() reads them.
    if (field(ro.d, "spec", "minReadySeconds") != field(rs, "spec", "minReadySeconds"))
      rs["spec"]["minReadySeconds"] = intField(ro.d, "spec", "minReadySeconds", 0);
    if (rs != before) {
      auto res = client_->update(replicaSetsResource(), nsOf(rs), name(rs), rs);
      if (!res.isOk()) return res.status().withContext("updating replicaset " + name(rs));
      if (res->is_object() && res->contains("metadata")) rs = *res;
    }
    ro.new_rs = rs;
    if (!condition(ro.status, "Progressing"))
      setCondition(ro.status, "Progressing", "True", "FoundNewReplicaSet",
                   "Found new replica set \"" + name(rs) + "\"", now);
  } else if (create) {
    json t = tmpl;
    if (!t.is_object()) t = json::object();
    metaOf(t);
    if (!t["metadata"].contains("labels") || !t["metadata"]["labels"].is_object())
      t["metadata"]["labels"] = json::object();
    t["metadata"]["labels"][kPodTemplateHashLabel] = hash;
    json sel = field(ro.d, "spec", "selector");
    if (!sel.contains("matchLabels") || !sel["matchLabels"].is_object()) sel["matchLabels"] = json::object();
    sel["matchLabels"][kPodTemplateHashLabel] = hash;
    json annotations = json::object();
    const json& da = field(ro.d, "metadata", "annotations");
    if (da.is_object())
      for (auto it = da.begin(); it != da.end(); ++it)
        if (it.key() != kLastApplied && it.key().rfind("deployment.kubernetes.io/", 0) != 0)
          annotations[it.key()] = it.value();
    annotations[kRevisionAnnotation] = std::to_string(new_revision);
    annotations[kDesiredReplicasAnnotation] = desired;
    annotations[kMaxReplicasAnnotation] = max_replicas;
    json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name(ro.d) + "-" + hash},
                 {"namespace", nsOf(ro.d)},
                 {"labels", t["metadata"]["labels"]},
                 {"annotations", annotations},
                 {"ownerReferences", json::array({deploymentOwnerRef(ro.d)})}}},
               {"spec",
                {{"replicas", 0},
                 {"minReadySeconds", intField(ro.d, "spec", "minReadySeconds", 0)},
                 {"selector", sel},
                 {"template", t}}}};
    rs["spec"]["replicas"] = newReplicasFor(ro, 0);
    auto res = client_->create(replicaSetsResource(), nsOf(ro.d), rs);
    if (!res.isOk()) {
      if (res.status().code() != Code::kAlreadyExists)
        return res.status().withContext("creating replicaset " + name(rs));
      // Someone holds the name: ours (cache behind) or a hash collision.
      auto live = client_->get(replicaSetsResource(), nsOf(ro.d), name(rs));
      if (!live.isOk()) return live.status().withContext("reading replicaset " + name(rs));
      const json* ref = controllerRefOf(*live);
      if (ref && ref->value("uid", "") == uidOf(ro.d)) {
        // Ours, created by an earlier sync the cache has not shown yet: look again when it does.
        return conflict("replicaset " + name(rs) + " exists but is not cached yet");
      }
      json copy = ro.d;
      copy["status"] = ro.status;
      copy["status"]["collisionCount"] = (cc ? *cc : 0) + 1;
      auto up = client_->update(deploymentsResource(), nsOf(ro.d), name(ro.d), copy, "status");
      if (!up.isOk()) return up.status().withContext("raising collisionCount");
      return conflict("hash collision for replicaset " + name(rs) + ", collisionCount raised");
    }
    if (res->is_object() && res->contains("metadata")) rs = *res;
    BLOG(2, "created replicaset").kv("deployment", ro.key).kv("replicaset", name(rs))
        .kv("revision", new_revision);
    ro.new_rs = rs;
    if (specReplicas(rs) > 0)
      scalingEvent(ro.d,
                  "Scaled up replica set " + name(rs) + " from 0 to " + std::to_string(specReplicas(rs)));
    setCondition(ro.status, "Progressing", "True", "NewReplicaSetCreated",
                 "Created new replica set \"" + name(rs) + "\"", now);
  }

  // The Deployment carries the new ReplicaSet's revision (a metadata change: no new generation).
  if (ro.new_rs) {
    std::string rev = annotation(*ro.new_rs, kRevisionAnnotation);
    if (!rev.empty() && annotation(ro.d, kRevisionAnnotation) != rev) {
      json patch = {{"metadata", {{"annotations", {{kRevisionAnnotation, rev}}}}}};
      auto res = client_->patch(deploymentsResource(), nsOf(ro.d), name(ro.d), client::PatchType::kMerge, patch);
      if (!res.isOk()) return res.status().withContext("setting revision on " + ro.key);
      setAnnotation(ro.d, kRevisionAnnotation, rev);
      if (res->is_object() && meta(*res).contains("resourceVersion"))
        metaOf(ro.d)["resourceVersion"] = meta(*res)["resourceVersion"];
    }
  }
  return Status::ok();
}

void DeploymentController::scalingEvent(const json& d, const std::string& message) {
  if (config_.recorder) config_.recorder->event(d, client::EventRecorder::Type::kNormal, "ScalingReplicaSet", message);
}

Status DeploymentController::scaleReplicaSet(Rollout& ro, json& rs, int64_t replicas) {
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  json next = rs;
  next["spec"]["replicas"] = replicas;
  setAnnotation(next, kDesiredReplicasAnnotation, std::to_string(specReplicas(ro.d)));
  setAnnotation(next, kMaxReplicasAnnotation, std::to_string(specReplicas(ro.d) + surge));
  if (next == rs) return Status::ok();
  auto res = client_->update(replicaSetsResource(), nsOf(rs), name(rs), next);
  if (!res.isOk()) return res.status().withContext("scaling replicaset " + name(rs));
  BLOG(2, "scaled replicaset").kv("deployment", ro.key).kv("replicaset", name(rs))
      .kv("from", specReplicas(rs)).kv("to", replicas);
  if (specReplicas(rs) != replicas)
    scalingEvent(ro.d,
                std::string("Scaled ") + (replicas > specReplicas(rs) ? "up" : "down") + " replica set " +
                    name(rs) + " from " + std::to_string(specReplicas(rs)) + " to " + std::to_string(replicas));
  rs = (res->is_object() && res->contains("metadata")) ? *res : next;
  return Status::ok();
}

ReconcileResult DeploymentController::reconcile(const std::string& key) {
  ObjectPtr cached = deployments_->get(key);
  if (!cached) return ReconcileResult::ok();
  Rollout ro;
  ro.key = key;
  ro.d = *cached;
  ro.status = field(ro.d, "status").is_object() ? field(ro.d, "status") : json::object();
  if (selectorEmpty(field(ro.d, "spec", "selector"))) {
    BLOG(2, "deployment has an empty selector, ignoring").kv("deployment", key);
    return ReconcileResult::ok();
  }
  auto rss = claimReplicaSets(ro.d);
  if (!rss.isOk()) return ReconcileResult::fail(rss.status());
  if (isDeleting(ro.d)) {
    Status st = syncRevision(ro, *rss, false);
    if (!st.isOk()) return ReconcileResult::fail(st);
    return syncStatus(ro, false);
  }
  bool paused = field(ro.d, "spec", "paused") == true;
  if (paused) return syncPaused(ro, std::move(*rss));
  if (isScalingEvent(ro.d, *rss)) {
    Status st = syncRevision(ro, std::move(*rss), false);
    if (st.isOk()) st = scale(ro);
    if (!st.isOk()) return ReconcileResult::fail(st);
    return syncStatus(ro, false);
  }
  if (isRecreate(ro.d)) return rolloutRecreate(ro, std::move(*rss));
  return rolloutRolling(ro, std::move(*rss));
}

// ---- strategies ----

Status DeploymentController::scale(Rollout& ro) {
  int64_t replicas = specReplicas(ro.d);
  std::vector<json*> active;
  if (ro.new_rs && specReplicas(*ro.new_rs) > 0) active.push_back(&*ro.new_rs);
  for (auto& rs : ro.old_rss)
    if (specReplicas(rs) > 0) active.push_back(&rs);
  // One active ReplicaSet (or none: the newest) takes the whole size.
  json* only = nullptr;
  if (active.size() == 1) only = active[0];
  else if (active.empty()) only = ro.new_rs ? &*ro.new_rs : (ro.old_rss.empty() ? nullptr : &ro.old_rss.back());
  if (only || active.empty()) {
    if (!only || specReplicas(*only) == replicas) return Status::ok();
    return scaleReplicaSet(ro, *only, replicas);
  }
  // The new ReplicaSet is saturated: the old ones go.
  if (ro.new_rs && specReplicas(*ro.new_rs) == replicas &&
      annotation(*ro.new_rs, kDesiredReplicasAnnotation) == std::to_string(replicas) &&
      statusInt(*ro.new_rs, "availableReplicas") == replicas) {
    for (auto& rs : ro.old_rss)
      if (specReplicas(rs) > 0) BERTH_RETURN_IF_ERROR(scaleReplicaSet(ro, rs, 0));
    return Status::ok();
  }
  if (isRecreate(ro.d)) return Status::ok();
  // Proportional scaling (upstream's scale()): each active ReplicaSet grows or shrinks by its
  // share of the change, measured against the max-replicas it was last sized for; leftovers go
  // to the first (largest when growing, smallest when shrinking).
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  int64_t allowed = replicas > 0 ? replicas + surge : 0;
  int64_t current = 0;
  for (json* rs : active) current += specReplicas(*rs);
  int64_t to_add = allowed - current;
  if (to_add == 0) return Status::ok();
  std::sort(active.begin(), active.end(), [&](const json* a, const json* b) {
    if (specReplicas(*a) != specReplicas(*b))
      return to_add > 0 ? specReplicas(*a) > specReplicas(*b) : specReplicas(*a) < specReplicas(*b);
    return to_add > 0 ? olderFirst(*b, *a) : olderFirst(*a, *b);
  });
  std::vector<int64_t> sizes;
  int64_t added = 0;
  for (json* rs : active) {
    int64_t cur = specReplicas(*rs), share;
    if (replicas == 0) {
      share = -cur;
    } else {
      int64_t annotated = 0;
      try {
        annotated = std::stoll(annotation(*rs, kMaxReplicasAnnotation));
      } catch (...) {
        annotated = statusInt(ro.d, "replicas");
      }
      share = annotated > 0 ? std::llround(static_cast<double>(cur) * static_cast<double>(allowed) /
                                           static_cast<double>(annotated)) - cur
                            : 0;
    }
    sizes.push_back(cur + share);
    added += share;
  }
  sizes[0] = std::max<int64_t>(0, sizes[0] + to_add - added);
  for (size_t i = 0; i < active.size(); ++i)
    BERTH_RETURN_IF_ERROR(scaleReplicaSet(ro, *active[i], std::max<int64_t>(0, sizes[i])));
  return Status::ok();
}

ReconcileResult DeploymentController::syncPaused(Rollout& ro, std::vector<json> rss) {
  Status st = syncRevision(ro, std::move(rss), false);
  if (!st.isOk()) return ReconcileResult::fail(st);
  st = scale(ro);
  if (!st.isOk()) return ReconcileResult::fail(st);
  st = cleanup(ro);
  if (!st.isOk()) return ReconcileResult::fail(st);
  return syncStatus(ro, false);
}

Result<bool> DeploymentController::reconcileNewReplicaSet(Rollout& ro) {
  json& rs = *ro.new_rs;
  int64_t replicas = specReplicas(ro.d), cur = specReplicas(rs);
  if (cur == replicas) return false;
  int64_t next = cur > replicas ? replicas : newReplicasFor(ro, cur);
  if (next == cur) return false;
  BERTH_RETURN_IF_ERROR(scaleReplicaSet(ro, rs, next));
  return true;
}

Result<bool> DeploymentController::reconcileOldReplicaSets(Rollout& ro) {
  int64_t old_pods = 0;
  for (const auto& rs : ro.old_rss) old_pods += specReplicas(rs);
  if (old_pods == 0) return false;
  int64_t all_pods = old_pods + (ro.new_rs ? specReplicas(*ro.new_rs) : 0);
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  int64_t min_available = specReplicas(ro.d) - unavailable;
  int64_t new_unavailable =
      ro.new_rs ? specReplicas(*ro.new_rs) - statusInt(*ro.new_rs, "availableReplicas") : 0;
  int64_t max_scaled_down = all_pods - min_available - new_unavailable;
  if (max_scaled_down <= 0) return false;

  // First the old replicas that are not available anyway (they do not count towards
  // availability), oldest ReplicaSets first.
  int64_t cleaned = 0;
  for (auto& rs : ro.old_rss) {
    if (cleaned >= max_scaled_down) break;
    int64_t r = specReplicas(rs), avail = statusInt(rs, "availableReplicas");
    if (r == 0 || r <= avail) continue;
    int64_t n = std::min(max_scaled_down - cleaned, r - avail);
    BERTH_RETURN_IF_ERROR(scaleReplicaSet(ro, rs, r - n));
    cleaned += n;
  }
  // Then available ones, keeping min_available.
  int64_t available = ro.new_rs ? statusInt(*ro.new_rs, "availableReplicas") : 0;
  for (const auto& rs : ro.old_rss) available += std::min(statusInt(rs, "availableReplicas"), specReplicas(rs));
  int64_t scaled = 0;
  if (available > min_available) {
    int64_t total = std::min(available - min_available, max_scaled_down - cleaned);
    for (auto& rs : ro.old_rss) {
      if (scaled >= total) break;
      int64_t r = specReplicas(rs);
      if (r == 0) continue;
      int64_t n = std::min(r, total - scaled);
      BERTH_RETURN_IF_ERROR(scaleReplicaSet(ro, rs, r - n));
      scaled += n;
    }
  }
  return cleaned + scaled > 0;
}

ReconcileResult DeploymentController::rolloutRolling(Rollout& ro, std::vector<json> rss) {
  Status st = syncRevision(ro, std::move(rss), true);
  if (!st.isOk()) return ReconcileResult::fail(st);
  auto up = reconcileNewReplicaSet(ro);
  if (!up.isOk()) return ReconcileResult::fail(up.status());
  if (*up) return syncStatus(ro, true);
  auto down = reconcileOldReplicaSets(ro);
  if (!down.isOk()) return ReconcileResult::fail(down.status());
  if (*down) return syncStatus(ro, true);
  st = cleanup(ro);
  if (!st.isOk()) return ReconcileResult::fail(st);
  return syncStatus(ro, true);
}

bool DeploymentController::oldPodsRunning(const Rollout& ro) const {
  for (const auto& rs : ro.old_rss) {
    if (statusInt(rs, "replicas") > 0) return true;
    for (const auto& pod : pods_->byIndex(client::kIndexOwnerUid, uidOf(rs))) {
      const json* ref = controllerRefOf(*pod);
      if (!ref || ref->value("uid", "") != uidOf(rs)) continue;
      std::string phase = field(*pod, "status", "phase").is_string()
                              ? field(*pod, "status", "phase").get<std::string>() : "";
      if (phase == "Failed" || phase == "Succeeded") continue;
      return true;
    }
  }
  return false;
}

ReconcileResult DeploymentController::rolloutRecreate(Rollout& ro, std::vector<json> rss) {
  Status st = syncRevision(ro, rss, false);
  if (!st.isOk()) return ReconcileResult::fail(st);
  bool scaled = false;
  for (auto& rs : ro.old_rss) {
    if (specReplicas(rs) == 0) continue;
    st = scaleReplicaSet(ro, rs, 0);
    if (!st.isOk()) return ReconcileResult::fail(st);
    scaled = true;
  }
  if (scaled) return syncStatus(ro, true);
  if (oldPodsRunning(ro)) return syncStatus(ro, true);
  if (!ro.new_rs) {
    st = syncRevision(ro, std::move(rss), true);
    if (!st.isOk()) return ReconcileResult::fail(st);
  }
  if (ro.new_rs && specReplicas(*ro.new_rs) != specReplicas(ro.d)) {
    st = scaleReplicaSet(ro, *ro.new_rs, specReplicas(ro.d));
    if (!st.isOk()) return ReconcileResult::fail(st);
    return syncStatus(ro, true);
  }
  st = cleanup(ro);
  if (!st.isOk()) return ReconcileResult::fail(st);
  return syncStatus(ro, true);
}

Status DeploymentController::cleanup(Rollout& ro) {
  const json& limit_v = field(ro.d, "spec", "revisionHistoryLimit");
  if (!limit_v.is_number_integer()) return Status::ok();
  int64_t limit = limit_v.get<int64_t>();
  // Only when the rollout is complete: every pod is the new template's.
  if (!ro.new_rs) return Status::ok();
  for (const auto& rs : ro.old_rss)
    if (specReplicas(rs) != 0 || statusInt(rs, "replicas") != 0) return Status::ok();
  std::vector<json> candidates;
  for (const auto& rs : ro.old_rss)
    if (!isDeleting(rs) && intField(rs, "status", "observedGeneration", 0) >=
                               intField(rs, "metadata", "generation", 0))
      candidates.push_back(rs);
  int64_t diff = static_cast<int64_t>(candidates.size()) - limit;
  if (diff <= 0) return Status::ok();
  std::sort(candidates.begin(), candidates.end(),
            [](const json& a, const json& b) { return revisionOf(a) < revisionOf(b); });
  for (int64_t i = 0; i < diff; ++i) {
    const json& rs = candidates[i];
    auto res = client_->remove(replicaSetsResource(), nsOf(rs), name(rs),
                               {{"preconditions", {{"uid", uidOf(rs)}}}});
    if (!res.isOk() && res.status().code() != Code::kNotFound)
      return res.status().withContext("deleting old replicaset " + name(rs));
    BLOG(2, "deleted old replicaset").kv("deployment", ro.key).kv("replicaset", name(rs));
  }
  return Status::ok();
}

// ---- status ----

ReconcileResult DeploymentController::syncStatus(Rollout& ro, bool rollout) {
  const json& old = field(ro.d, "status").is_object() ? field(ro.d, "status") : json::object();
  json s = ro.status;
  int64_t replicas = 0, ready = 0, available = 0;
  auto add = [&](const json& rs) {
    replicas += statusInt(rs, "replicas");
    ready += statusInt(rs, "readyReplicas");
    available += statusInt(rs, "availableReplicas");
  };
  for (const auto& rs : ro.old_rss) add(rs);
  if (ro.new_rs) add(*ro.new_rs);
  int64_t want = specReplicas(ro.d);
  s["observedGeneration"] = intField(ro.d, "metadata", "generation", 0);
  s["replicas"] = replicas;
  s["updatedReplicas"] = ro.new_rs ? statusInt(*ro.new_rs, "replicas") : 0;
  s["readyReplicas"] = ready;
  s["availableReplicas"] = available;
  s["unavailableReplicas"] = std::max<int64_t>(0, want - available);

  TimePoint now_tp = clock_->now();
  std::string now = formatRfc3339(now_tp);
  int64_t surge, unavailable;
  resolveFenceposts(ro.d, &surge, &unavailable);
  if (available >= want - unavailable)
    setCondition(s, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", now);
  else
    setCondition(s, "Available", "False", "MinimumReplicasUnavailable",
                 "Deployment does not have minimum availability.", now);

  bool paused = field(ro.d, "spec", "paused") == true;
  const json* prog = condition(s, "Progressing");
  if (paused && (!prog || prog->value("reason", "") != "DeploymentPaused"))
    setCondition(s, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now);
  else if (!paused && prog && prog->value("reason", "") == "DeploymentPaused")
    setCondition(s, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now);

  std::chrono::milliseconds requeue{0};
  const json& deadline_v = field(ro.d, "spec", "progressDeadlineSeconds");
  bool tracking = deadline_v.is_number_integer() && deadline_v.get<int64_t>() < 2147483647;
  if (rollout && tracking) {
    std::string rs_name = ro.new_rs ? name(*ro.new_rs) : "";
    bool complete = s["updatedReplicas"] == want && replicas == want && available == want &&
                    s["observedGeneration"].get<int64_t>() >= intField(ro.d, "metadata", "generation", 0);
    bool progressing = s["updatedReplicas"].get<int64_t>() > intField(old, "updatedReplicas", nullptr, 0) ||
                       replicas - s["updatedReplicas"].get<int64_t>() <
                           intField(old, "replicas", nullptr, 0) - intField(old, "updatedReplicas", nullptr, 0) ||
                       ready > intField(old, "readyReplicas", nullptr, 0) ||
                       available > intField(old, "availableReplicas", nullptr, 0);
    const json* cur = condition(s, "Progressing");
    std::string cur_reason = cur ? cur->value("reason", "") : "";
    bool timed_out = false;
    if (cur && cur_reason != "NewReplicaSetAvailable") {
      if (cur_reason == "ProgressDeadlineExceeded") {
        timed_out = true;
      } else {
        TimePoint from;
        if (parseRfc3339(cur->value("lastUpdateTime", ""), &from)) {
          auto deadline = from + std::chrono::seconds(deadline_v.get<int64_t>());
          if (deadline < now_tp) timed_out = true;
          else requeue = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now_tp) +
                         std::chrono::seconds(1);
        }
      }
    }
    if (complete) {
      setCondition(s, "Progressing", "True", "NewReplicaSetAvailable",
                   "ReplicaSet \"" + rs_name + "\" has successfully progressed.", now);
      requeue = std::chrono::milliseconds(0);
    } else if (progressing) {
      json c = {{"type", "Progressing"}, {"status", "True"}, {"lastUpdateTime", now},
                {"lastTransitionTime", now}, {"reason", "ReplicaSetUpdated"},
                {"message", "ReplicaSet \"" + rs_name + "\" is progressing."}};
      if (cur && cur->value("status", "") == "True" && cur->contains("lastTransitionTime"))
        c["lastTransitionTime"] = (*cur)["lastTransitionTime"];
      removeCondition(s, "Progressing");
      s["conditions"].push_back(c);
      requeue = std::chrono::seconds(deadline_v.get<int64_t>()) + std::chrono::seconds(1);
    } else if (timed_out) {
      setCondition(s, "Progressing", "False", "ProgressDeadlineExceeded",
                   "ReplicaSet \"" + rs_name + "\" has timed out progressing.", now);
      requeue = std::chrono::milliseconds(0);
    }
  }
  if (s != old) {
    json copy = ro.d;
    copy["status"] = s;
    auto res = client_->update(deploymentsResource(), nsOf(ro.d), name(ro.d), copy, "status");
    if (!res.isOk() && res.status().code() != Code::kNotFound)
      return ReconcileResult::fail(res.status().withContext("updating status of " + ro.key));
  }
  if (requeue.count() > 0) return ReconcileResult::after(requeue);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
