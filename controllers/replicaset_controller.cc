#include "controllers/replicaset_controller.h"

#include <algorithm>

#include "apiserver/patch/selectors.h"
#include "common/log.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;
using client::Resource;

namespace {

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};

const json& meta(const json& obj) {
  static const json kEmpty = json::object();
  return obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"] : kEmpty;
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

std::string podKey(const json& pod) { return client::objectKey(pod); }

bool podActive(const json& pod) {
  std::string phase = field(pod, "status", "phase").is_string()
                          ? field(pod, "status", "phase").get<std::string>() : "";
  return phase != "Succeeded" && phase != "Failed" && !isDeleting(pod);
}

const json* readyCondition(const json& pod) {
  const json& conds = field(pod, "status", "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds)
    if (c.is_object() && c.value("type", "") == "Ready") return &c;
  return nullptr;
}

// Upstream's ActivePods ordering, simplified: the pod earlier in this order is deleted first.
int phaseRank(const json& pod) {
  std::string phase = pod.contains("status") ? pod["status"].value("phase", "") : "";
  if (phase == "Pending" || phase.empty()) return 0;
  if (phase == "Unknown") return 1;
  return 2;
}

int restarts(const json& pod) {
  int n = 0;
  const json& cs = field(pod, "status", "containerStatuses");
  if (cs.is_array())
    for (const auto& c : cs)
      if (c.is_object()) n = std::max(n, c.value("restartCount", 0));
  return n;
}

bool deleteFirst(const json& a, const json& b) {
  bool a_node = !field(a, "spec", "nodeName").is_null() && field(a, "spec", "nodeName") != "";
  bool b_node = !field(b, "spec", "nodeName").is_null() && field(b, "spec", "nodeName") != "";
  if (a_node != b_node) return !a_node;
  if (phaseRank(a) != phaseRank(b)) return phaseRank(a) < phaseRank(b);
  if (podReady(a) != podReady(b)) return !podReady(a);
  if (restarts(a) != restarts(b)) return restarts(a) > restarts(b);
  std::string ta = meta(a).value("creationTimestamp", ""), tb = meta(b).value("creationTimestamp", "");
  if (ta != tb) return ta > tb;  // RFC 3339 in UTC sorts as text; newer first
  return meta(a).value("name", "") > meta(b).value("name", "");
}

json ownerRefFor(const Resource& owner, const json& rs) {
  return {{"apiVersion", owner.groupVersion()},
          {"kind", owner.kind},
          {"name", meta(rs).value("name", "")},
          {"uid", meta(rs).value("uid", "")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

bool labelsContain(const json& labels, const json& want) {
  if (!want.is_object()) return true;
  for (auto it = want.begin(); it != want.end(); ++it) {
    if (!labels.is_object() || !labels.contains(it.key()) || labels[it.key()] != it.value())
      return false;
  }
  return true;
}

}  // namespace

const Resource& podsResource() {
  static const Resource r{"", "v1", "pods", "Pod", true, kVerbs};
  return r;
}
const Resource& replicaSetsResource() {
  static const Resource r{"apps", "v1", "replicasets", "ReplicaSet", true, kVerbs};
  return r;
}
const Resource& replicationControllersResource() {
  static const Resource r{"",   "v1",  "replicationcontrollers", "ReplicationController",
                          true, kVerbs};
  return r;
}
const Resource& deploymentsResource() {
  static const Resource r{"apps", "v1", "deployments", "Deployment", true, kVerbs};
  return r;
}

const json* controllerRefOf(const json& obj) {
  const json& refs = field(obj, "metadata", "ownerReferences");
  if (!refs.is_array()) return nullptr;
  for (const auto& r : refs)
    if (r.is_object() && r.contains("controller") && r["controller"] == true) return &r;
  return nullptr;
}

const char kIndexControllerUid[] = "controllerUid";

std::string orphanIndexValue(const std::string& ns) { return "orphan/" + ns; }

std::vector<std::string> controllerUidIndex(const json& obj) {
  if (const json* ref = controllerRefOf(obj)) {
    const json& uid = field(*ref, "uid");
    if (uid.is_string()) return {uid.get<std::string>()};
    return {};
  }
  return {orphanIndexValue(meta(obj).value("namespace", ""))};
}

// Label selectors are the API server's own (apiserver/patch/selectors.h), so controllers and
// the server agree on what a selector matches.
bool selectorEmpty(const json& sel) {
  if (!sel.is_object()) return true;
  auto parsed = apiserver::patch::LabelSelector::fromObject(sel);
  return parsed.isOk() && parsed->empty();
}

bool selectorMatches(const json& sel, const json& labels) {
  if (!sel.is_object()) return false;
  auto parsed = apiserver::patch::LabelSelector::fromObject(sel);
  return parsed.isOk() && parsed->matches(labels);
}

bool podReady(const json& pod) {
  const json* c = readyCondition(pod);
  return c && c->value("status", "") == "True";
}

bool podAvailable(const json& pod, int min_ready_seconds, TimePoint now,
                  std::chrono::milliseconds* wait) {
  if (!podReady(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  TimePoint since;
  if (!parseRfc3339(readyCondition(pod)->value("lastTransitionTime", ""), &since)) return false;
  auto ready_at = since + std::chrono::seconds(min_ready_seconds);
  if (ready_at <= now) return true;
  if (wait) *wait = std::chrono::duration_cast<std::chrono::milliseconds>(ready_at - now);
  return false;
}

bool isDeleting(const json& obj) {
  return !field(obj, "metadata", "deletionTimestamp").is_null();
}

// ---- Expectations ----

bool Expectations::satisfied(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return true;
  if (it->second.adds <= 0 && it->second.dels.empty()) return true;
  if (clock_->now() - it->second.at > ttl_) {
    BLOG(2, "expectations expired").kv("key", key);
    return true;
  }
  return false;
}

void Expectations::expectCreations(const std::string& key, int n) {
  std::lock_guard<std::mutex> l(mu_);
  auto& e = items_[key];
  e.adds = n;
  e.dels.clear();
  e.at = clock_->now();
}

void Expectations::expectDeletions(const std::string& key, const std::set<std::string>& pod_keys) {
  std::lock_guard<std::mutex> l(mu_);
  auto& e = items_[key];
  e.adds = 0;
  e.dels = pod_keys;
  e.at = clock_->now();
}

void Expectations::creationObserved(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = items_.find(key);
  if (it != items_.end()) --it->second.adds;
}

void Expectations::deletionObserved(const std::string& key, const std::string& pod_key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = items_.find(key);
  if (it != items_.end()) it->second.dels.erase(pod_key);
}

void Expectations::forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  items_.erase(key);
}

// ---- ReplicaSetController ----

ReplicaSetController::ReplicaSetController(client::Client* client,
                                           client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      owner_(config_.replication_controllers ? replicationControllersResource()
                                             : replicaSetsResource()),
      expectations_(clock_, config_.expectations_ttl) {
  controller_ = Controller::forConfig(
      config_.replication_controllers ? "replicationcontroller" : "replicaset", config_,
      [this](const std::string& k) { return reconcile(k); });
  pods_ = informers->informerFor(podsResource());
  rss_ = informers->informerFor(owner_);
  pods_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  rss_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  pods_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
  pods_->addIndexer(kIndexControllerUid, controllerUidIndex);
  rss_->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);

  client::EventHandlers rh = controller_->keyHandlers(false);
  rh.on_delete = [this](const ObjectPtr& o) {
    expectations_.forget(client::objectKey(*o));
    controller_->enqueue(client::objectKey(*o));
  };
  rss_->addEventHandlers(std::move(rh));

  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr& o) { onPodAdd(*o); };
  ph.on_update = [this](const ObjectPtr& old_obj, const ObjectPtr& o) { onPodUpdate(*old_obj, *o); };
  ph.on_delete = [this](const ObjectPtr& o) { onPodDelete(*o); };
  pods_->addEventHandlers(std::move(ph));
}

ReplicaSetController::~ReplicaSetController() { stop(); }

void ReplicaSetController::start() { controller_->start({pods_, rss_}); }
void ReplicaSetController::stop() { controller_->stop(); }

json ReplicaSetController::selectorOf(const json& rs) const {
  const json& sel = field(rs, "spec", "selector");
  if (!config_.replication_controllers) return sel;
  // A ReplicationController's selector is an equality-only map: its matchLabels.
  if (!sel.is_object() || sel.empty()) return json::object();
  return {{"matchLabels", sel}};
}

std::string ReplicaSetController::rsKeyFor(const std::string& ns, const json* ref) const {
  if (!ref || ref->value("kind", "") != owner_.kind) return "";
  // Any version of the owner's group ("apps/v1", or "v1" for the core group).
  std::string api_version = ref->value("apiVersion", "");
  if (owner_.group.empty() ? api_version.find('/') != std::string::npos
                           : api_version.rfind(owner_.group + "/", 0) != 0)
    return "";
  std::string key = ns + "/" + ref->value("name", "");
  auto rs = rss_->get(key);
  if (!rs || meta(*rs).value("uid", "") != ref->value("uid", "")) return "";
  return key;
}

void ReplicaSetController::enqueueMatching(const json& pod) {
  const json& labels = field(pod, "metadata", "labels");
  for (const auto& rs : rss_->byIndex(client::kIndexNamespace, meta(pod).value("namespace", ""))) {
    json sel = selectorOf(*rs);
    if (!selectorEmpty(sel) && selectorMatches(sel, labels)) controller_->enqueue(client::objectKey(*rs));
  }
}

void ReplicaSetController::onPodAdd(const json& pod) {
  std::string ns = meta(pod).value("namespace", "");
  if (const json* ref = controllerRefOf(pod)) {
    std::string key = rsKeyFor(ns, ref);
    if (key.empty()) return;
    expectations_.creationObserved(key);
    if (isDeleting(pod)) expectations_.deletionObserved(key, podKey(pod));
    controller_->enqueue(key);
    return;
  }
  if (!isDeleting(pod)) enqueueMatching(pod);
}

void ReplicaSetController::onPodUpdate(const json& old_pod, const json& pod) {
  std::string ns = meta(pod).value("namespace", "");
  const json* old_ref = controllerRefOf(old_pod);
  const json* ref = controllerRefOf(pod);
  std::string key = rsKeyFor(ns, ref);
  if (isDeleting(pod) && !key.empty()) expectations_.deletionObserved(key, podKey(pod));
  if (old_ref && (!ref || old_ref->value("uid", "") != ref->value("uid", ""))) {
    std::string old_key = rsKeyFor(ns, old_ref);
    if (!old_key.empty()) controller_->enqueue(old_key);
  }
  if (!key.empty()) {
    controller_->enqueue(key);
    return;
  }
  if (!ref && !isDeleting(pod) &&
      (field(old_pod, "metadata", "labels") != field(pod, "metadata", "labels") || old_ref))
    enqueueMatching(pod);
}

void ReplicaSetController::onPodDelete(const json& pod) {
  std::string key = rsKeyFor(meta(pod).value("namespace", ""), controllerRefOf(pod));
  if (key.empty()) return;
  expectations_.deletionObserved(key, podKey(pod));
  controller_->enqueue(key);
}

std::vector<ObjectPtr> ReplicaSetController::candidatePods(const json& rs) const {
  std::vector<ObjectPtr> out = pods_->byIndex(kIndexControllerUid, meta(rs).value("uid", ""));
  for (auto& orphan : pods_->byIndex(kIndexControllerUid, orphanIndexValue(meta(rs).value("namespace", ""))))
    out.push_back(std::move(orphan));
  return out;
}

std::vector<ObjectPtr> ReplicaSetController::claimPods(const json& rs, Status* err) {
  std::vector<ObjectPtr> owned;
  const std::string uid = meta(rs).value("uid", "");
  auto parsed = apiserver::patch::LabelSelector::fromObject(selectorOf(rs));
  auto matchesSelector = [&](const json& pod) {
    return parsed.isOk() && parsed->matches(field(pod, "metadata", "labels"));
  };
  for (const auto& pod : candidatePods(rs)) {
    if (!podActive(*pod)) continue;
    const json* ref = controllerRefOf(*pod);
    bool matches = matchesSelector(*pod);
    std::string ns = meta(*pod).value("namespace", ""), name = meta(*pod).value("name", "");
    if (ref && ref->value("uid", "") == uid) {
      if (matches || isDeleting(rs)) {
        owned.push_back(pod);
        continue;
      }
      // Release: the pod no longer matches; drop our reference.
      json kept = json::array();
      for (const auto& r : field(*pod, "metadata", "ownerReferences"))
        if (r.value("uid", "") != uid) kept.push_back(r);
      json patch = json::array();
      patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                       {"value", meta(*pod).value("resourceVersion", "")}});
      if (kept.empty()) patch.push_back({{"op", "remove"}, {"path", "/metadata/ownerReferences"}});
      else patch.push_back({{"op", "replace"}, {"path", "/metadata/ownerReferences"}, {"value", kept}});
      auto res = client_->patch(podsResource(), ns, name, client::PatchType::kJson, patch);
      if (!res.isOk() && res.status().code() != Code::kNotFound) *err = res.status();
      else BLOG(2, "released pod").kv("replicaset", client::objectKey(rs)).kv("pod", ns + "/" + name);
      continue;
    }
    if (ref || !matches || isDeleting(rs)) continue;
    // Adopt the orphan.
    json refs = field(*pod, "metadata", "ownerReferences").is_array()
                    ? field(*pod, "metadata", "ownerReferences") : json::array();
    refs.push_back(ownerRefFor(owner_, rs));
    json patch = json::array();
    patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                     {"value", meta(*pod).value("resourceVersion", "")}});
    patch.push_back({{"op", "add"}, {"path", "/metadata/ownerReferences"}, {"value", refs}});
    auto res = client_->patch(podsResource(), ns, name, client::PatchType::kJson, patch);
    if (res.isOk()) {
      BLOG(2, "adopted pod").kv("replicaset", client::objectKey(rs)).kv("pod", ns + "/" + name);
      owned.push_back(pod);
    } else if (res.status().code() != Code::kNotFound) {
      *err = res.status();
    }
  }
  return owned;
}

Result<json> ReplicaSetController::createPod(const json& rs) {
  const json& tmpl = field(rs, "spec", "template");
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  json m = json::object();
  m["generateName"] = meta(rs).value("name", "") + "-";
  m["namespace"] = meta(rs).value("namespace", "");
  const json& tm = field(tmpl, "metadata");
  if (tm.is_object()) {
    if (tm.contains("labels")) m["labels"] = tm["labels"];
    if (tm.contains("annotations")) m["annotations"] = tm["annotations"];
    if (tm.contains("finalizers")) m["finalizers"] = tm["finalizers"];
  }
  m["ownerReferences"] = json::array({ownerRefFor(owner_, rs)});
  pod["metadata"] = m;
  pod["spec"] = field(tmpl, "spec").is_object() ? field(tmpl, "spec") : json::object();
  return client_->create(podsResource(), m["namespace"].get<std::string>(), pod);
}

Status ReplicaSetController::manageReplicas(const std::string& key, const json& rs,
                                            const std::vector<ObjectPtr>& pods) {
  int64_t want = intField(rs, "spec", "replicas", 1);
  int64_t diff = static_cast<int64_t>(pods.size()) - want;
  std::string ns = meta(rs).value("namespace", "");
  if (diff < 0) {
    int n = static_cast<int>(std::min<int64_t>(-diff, config_.burst_replicas));
    expectations_.expectCreations(key, n);
    // Slow start: batches of 1, 2, 4, ...; a failing batch stops the rest so a quota or
    // admission error costs one request, not n.
    int done = 0;
    Status first_err;
    for (int batch = 1; done < n && first_err.isOk(); batch *= 2) {
      int count = std::min(batch, n - done);
      for (int i = 0; i < count; ++i) {
        auto res = createPod(rs);
        if (!res.isOk()) {
          expectations_.creationObserved(key);  // this one will never be seen
          if (first_err.isOk()) first_err = res.status();
          recordEvent(config_.recorder, rs, true, "FailedCreate", "Error creating: " + res.status().message());
        } else {
          recordEvent(config_.recorder, rs, false, "SuccessfulCreate",
                      "Created pod: " + meta(*res).value("name", ""));
        }
      }
      done += count;
    }
    for (int i = done; i < n; ++i) expectations_.creationObserved(key);  // skipped
    BLOG(2, "created pods").kv("replicaset", key).kv("want", n).kv("attempted", done);
    if (!first_err.isOk()) return first_err.withContext("creating pods for " + key);
  } else if (diff > 0) {
    int n = static_cast<int>(std::min<int64_t>(diff, config_.burst_replicas));
    std::vector<ObjectPtr> sorted = pods;
    std::sort(sorted.begin(), sorted.end(),
              [](const ObjectPtr& a, const ObjectPtr& b) { return deleteFirst(*a, *b); });
    sorted.resize(n);
    std::set<std::string> keys;
    for (const auto& p : sorted) keys.insert(podKey(*p));
    expectations_.expectDeletions(key, keys);
    Status first_err;
    for (const auto& p : sorted) {
      auto res = client_->remove(podsResource(), ns, meta(*p).value("name", ""),
                                 {{"preconditions", {{"uid", meta(*p).value("uid", "")}}}});
      if (!res.isOk()) {
        expectations_.deletionObserved(key, podKey(*p));
        if (res.status().code() != Code::kNotFound && first_err.isOk()) first_err = res.status();
      } else {
        recordEvent(config_.recorder, rs, false, "SuccessfulDelete",
                    "Deleted pod: " + meta(*p).value("name", ""));
      }
    }
    BLOG(2, "deleted pods").kv("replicaset", key).kv("count", n);
    if (!first_err.isOk()) return first_err.withContext("deleting pods of " + key);
  }
  return Status::ok();
}

ReconcileResult ReplicaSetController::reconcile(const std::string& key) {
  ObjectPtr cached = rss_->get(key);
  if (!cached) {
    expectations_.forget(key);
    return ReconcileResult::ok();
  }
  const json& rs = *cached;
  if (selectorEmpty(selectorOf(rs))) {
    BLOG(2, "empty selector, ignoring").kv("kind", owner_.kind).kv("key", key);
    return ReconcileResult::ok();
  }
  bool satisfied = expectations_.satisfied(key);
  Status claim_err;
  std::vector<ObjectPtr> pods = claimPods(rs, &claim_err);
  Status manage_err;
  if (satisfied && !isDeleting(rs)) manage_err = manageReplicas(key, rs, pods);

  // Status from what the cache shows now (creates/deletes just issued show on the next sync).
  TimePoint now = clock_->now();
  int min_ready = static_cast<int>(intField(rs, "spec", "minReadySeconds", 0));
  const json& tmpl_labels = field(field(rs, "spec", "template"), "metadata", "labels");
  int64_t fully = 0, ready = 0, available = 0;
  std::chrono::milliseconds wait{0};
  for (const auto& p : pods) {
    if (labelsContain(field(*p, "metadata", "labels"), tmpl_labels)) ++fully;
    if (podReady(*p)) ++ready;
    std::chrono::milliseconds w{0};
    if (podAvailable(*p, min_ready, now, &w)) ++available;
    else if (w.count() > 0 && (wait.count() == 0 || w < wait)) wait = w;
  }
  json status = rs.contains("status") && rs["status"].is_object() ? rs["status"] : json::object();
  json next = status;
  next["replicas"] = static_cast<int64_t>(pods.size());
  next["fullyLabeledReplicas"] = fully;
  next["readyReplicas"] = ready;
  next["availableReplicas"] = available;
  if (meta(rs).contains("generation")) next["observedGeneration"] = meta(rs)["generation"];
  if (next != status) {
    json copy = rs;
    copy["status"] = next;
    auto res = client_->update(owner_, meta(rs).value("namespace", ""), meta(rs).value("name", ""),
                               copy, "status");
    if (!res.isOk() && res.status().code() != Code::kNotFound)
      return ReconcileResult::fail(res.status().withContext("updating status of " + key));
  }
  if (!manage_err.isOk()) return ReconcileResult::fail(manage_err);
  if (!claim_err.isOk()) return ReconcileResult::fail(claim_err);
  if (wait.count() > 0) return ReconcileResult::after(wait + std::chrono::milliseconds(100));
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
