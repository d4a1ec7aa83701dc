#include "controllers/garbage_collector.h"

#include <algorithm>
#include <set>

#include "client/discovery.h"
#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;
using client::Resource;

namespace {

const char kOrphan[] = "orphan";
const char kForeground[] = "foregroundDeletion";

const json& meta(const json& obj) {
  static const json kEmpty = json::object();
  return obj.contains("metadata") && obj["metadata"].is_object() ? obj["metadata"] : kEmpty;
}

bool hasFinalizer(const json& obj, const std::string& f) {
  const json& m = meta(obj);
  if (!m.contains("finalizers") || !m["finalizers"].is_array()) return false;
  for (const auto& x : m["finalizers"])
    if (x == f) return true;
  return false;
}

bool deleting(const json& obj) { return meta(obj).contains("deletionTimestamp"); }

const json& ownerRefs(const json& obj) {
  static const json kNone = json::array();
  const json& m = meta(obj);
  return m.contains("ownerReferences") && m["ownerReferences"].is_array() ? m["ownerReferences"] : kNone;
}

const json* refTo(const json& obj, const std::string& uid) {
  for (const auto& r : ownerRefs(obj))
    if (r.is_object() && r.value("uid", "") == uid) return &r;
  return nullptr;
}

bool blocks(const json* ref) {
  return ref && ref->contains("blockOwnerDeletion") && (*ref)["blockOwnerDeletion"] == true;
}

std::string groupOf(const std::string& api_version) {
  auto slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

// Upstream's DefaultIgnoredResources: both Event APIs, the busiest resources of a cluster.
bool ignored(const Resource& r) {
  return r.resource == "events" && (r.group.empty() || r.group == "events.k8s.io");
}

std::string describe(const json& obj) { return client::objectKey(obj); }

}  // namespace

std::string GarbageCollector::workKey(const Resource& r, const json& obj) {
  return r.id() + "|" + client::objectKey(obj);
}

GarbageCollector::GarbageCollector(client::Client* client, client::InformerFactory* informers,
                                   Config config)
    : client_(client), factory_(informers), config_(std::move(config)) {
  resources_ = client::withVerbs(config_.resources, {"list", "watch", "delete"});
  resources_.erase(std::remove_if(resources_.begin(), resources_.end(), ignored), resources_.end());
  controller_ = Controller::forConfig("garbagecollector", config_, [this](const std::string& k) { return reconcile(k); });
  for (const auto& r : resources_) {
    client::Informer* inf = factory_->informerFor(r);
    inf->addIndexer(client::kIndexOwnerUid, client::ownerUidIndex);
    informers_[r.id()] = inf;
    const Resource* rp = &r;
    client::EventHandlers h;
    h.on_add = [this, rp](const ObjectPtr& o) { onObject(*rp, o); };
    h.on_update = [this, rp](const ObjectPtr& old_obj, const ObjectPtr& o) {
      onObject(*rp, o);
      // Owners waiting on this dependent (foreground) look again when it changes; so do the
      // owners it no longer references.
      if (ownerRefs(*old_obj) != ownerRefs(*o)) enqueueOwners(*old_obj);
    };
    h.on_delete = [this](const ObjectPtr& o) {
      enqueueDependents(*o);
      enqueueOwners(*o);
    };
    inf->addEventHandlers(std::move(h));
  }
}

GarbageCollector::~GarbageCollector() { stop(); }

void GarbageCollector::start() {
  std::vector<client::Informer*> all;
  for (const auto& [id, inf] : informers_) all.push_back(inf);
  controller_->start(all);
}

void GarbageCollector::stop() { controller_->stop(); }

void GarbageCollector::onObject(const Resource& r, const ObjectPtr& o) {
  if (!ownerRefs(*o).empty() || hasFinalizer(*o, kOrphan) || hasFinalizer(*o, kForeground))
    controller_->enqueue(workKey(r, *o));
  if (deleting(*o)) enqueueOwners(*o);
}

void GarbageCollector::enqueueOwners(const json& obj) {
  std::string ns = meta(obj).value("namespace", "");
  for (const auto& ref : ownerRefs(obj)) {
    if (!ref.is_object()) continue;
    const Resource* r = resourceFor(ref.value("apiVersion", ""), ref.value("kind", ""));
    if (!r) continue;
    std::string name = ref.value("name", "");
    controller_->enqueue(r->id() + "|" + (r->namespaced ? ns + "/" + name : name));
  }
}

void GarbageCollector::enqueueDependents(const json& obj) {
  for (const auto& d : dependentsOf(meta(obj).value("uid", "")))
    controller_->enqueue(workKey(*d.resource, *d.obj));
}

const Resource* GarbageCollector::resourceFor(const std::string& api_version,
                                              const std::string& kind) const {
  std::string group = groupOf(api_version);
  for (const auto& r : resources_)
    if (r.group == group && r.kind == kind) return &r;
  return nullptr;
}

std::vector<GarbageCollector::Dependent> GarbageCollector::dependentsOf(const std::string& uid) const {
  std::vector<Dependent> out;
  if (uid.empty()) return out;
  for (const auto& r : resources_) {
    auto it = informers_.find(r.id());
    if (it == informers_.end()) continue;
    for (auto& o : it->second->byIndex(client::kIndexOwnerUid, uid)) out.push_back({&r, std::move(o)});
  }
  return out;
}

bool GarbageCollector::hasBlockingDependents(const json& obj) const {
  std::string uid = meta(obj).value("uid", "");
  for (const auto& d : dependentsOf(uid))
    if (blocks(refTo(*d.obj, uid))) return true;
  return false;
}

ReconcileResult GarbageCollector::reconcile(const std::string& key) {
  auto bar = key.find('|');
  if (bar == std::string::npos) return ReconcileResult::ok();
  std::string rid = key.substr(0, bar);
  auto it = informers_.find(rid);
  if (it == informers_.end()) return ReconcileResult::ok();
  const Resource& r = it->second->resource();
  ObjectPtr obj = it->second->get(key.substr(bar + 1));
  if (!obj) return ReconcileResult::ok();  // gone: its dependents were enqueued on delete
  if (deleting(*obj)) {
    if (hasFinalizer(*obj, kOrphan)) return orphanDependents(r, *obj);
    if (hasFinalizer(*obj, kForeground)) return deleteForeground(r, *obj);
    return ReconcileResult::ok();
  }
  if (ownerRefs(*obj).empty()) return ReconcileResult::ok();
  return checkOwners(r, *obj);
}

ReconcileResult GarbageCollector::orphanDependents(const Resource& r, const json& owner) {
  std::string uid = meta(owner).value("uid", "");
  for (const auto& d : dependentsOf(uid)) {
    Status st = removeOwnerRefs(*d.resource, *d.obj, {uid});
    if (!st.isOk()) return ReconcileResult::fail(st.withContext("orphan " + describe(*d.obj)));
  }
  BLOG(2, "orphaned dependents").kv("owner", r.resource + "/" + describe(owner));
  Status st = removeFinalizer(r, owner, kOrphan);
  if (!st.isOk()) return ReconcileResult::fail(st);
  return ReconcileResult::ok();
}

ReconcileResult GarbageCollector::deleteForeground(const Resource& r, const json& owner) {
  std::string uid = meta(owner).value("uid", "");
  int remaining = 0;
  for (const auto& d : dependentsOf(uid)) {
    bool blocking = blocks(refTo(*d.obj, uid));
    if (!deleting(*d.obj)) {
      std::string policy = hasBlockingDependents(*d.obj) ? "Foreground" : "Background";
      Status st = deleteObject(*d.resource, *d.obj, policy);
      if (!st.isOk()) return ReconcileResult::fail(st.withContext("delete dependent " + describe(*d.obj)));
    }
    // Still in the cache: it is gone only once its DELETED event arrives.
    if (blocking) ++remaining;
  }
  if (remaining > 0) {
    BLOG(4, "foreground deletion waiting for dependents").kv("owner", r.resource + "/" + describe(owner))
        .kv("remaining", remaining);
    return ReconcileResult::after(config_.foreground_recheck);
  }
  Status st = removeFinalizer(r, owner, kForeground);
  if (!st.isOk()) return ReconcileResult::fail(st);
  BLOG(2, "foreground deletion done").kv("owner", r.resource + "/" + describe(owner));
  return ReconcileResult::ok();
}

ReconcileResult GarbageCollector::checkOwners(const Resource& r, const json& obj) {
  std::string ns = meta(obj).value("namespace", "");
  std::vector<std::string> dangling;
  int solid = 0, waiting = 0;
  for (const auto& ref : ownerRefs(obj)) {
    if (!ref.is_object()) continue;
    std::string uid = ref.value("uid", "");
    std::string name = ref.value("name", "");
    const Resource* owner_res = resourceFor(ref.value("apiVersion", ""), ref.value("kind", ""));
    // An owner we cannot look up (unknown kind, or a namespaced owner of a cluster-scoped
    // object) is never called gone: deleting on a guess is worse than keeping.
    if (!owner_res || (owner_res->namespaced && ns.empty())) {
      ++solid;
      continue;
    }
    std::string owner_ns = owner_res->namespaced ? ns : "";
    ObjectPtr cached = informers_.at(owner_res->id())->get(owner_ns.empty() ? name : owner_ns + "/" + name);
    json owner;
    if (cached && meta(*cached).value("uid", "") == uid) {
      owner = *cached;
    } else {
      auto live = client_->get(*owner_res, owner_ns, name);
      if (!live.isOk() && live.status().code() != Code::kNotFound)
        return ReconcileResult::fail(live.status().withContext("get owner " + name));
      if (!live.isOk() || meta(*live).value("uid", "") != uid) {
        dangling.push_back(uid);
        continue;
      }
      owner = std::move(live).value();
    }
    if (deleting(owner) && hasFinalizer(owner, kForeground)) ++waiting;
    else ++solid;
  }
  if (solid == 0 && waiting == 0 && !dangling.empty()) {
    BLOG(2, "deleting object whose owners are gone").kv("object", r.resource + "/" + describe(obj));
    Status st = deleteObject(r, obj, "Background");
    if (!st.isOk()) return ReconcileResult::fail(st);
    return ReconcileResult::ok();
  }
  if (!dangling.empty()) {
    Status st = removeOwnerRefs(r, obj, dangling);
    if (!st.isOk()) return ReconcileResult::fail(st);
    return ReconcileResult::ok();
  }
  if (solid == 0 && waiting > 0) {
    // Every owner is being deleted in the foreground: this dependent goes first.
    std::string policy = hasBlockingDependents(obj) ? "Foreground" : "Background";
    Status st = deleteObject(r, obj, policy);
    if (!st.isOk()) return ReconcileResult::fail(st);
  }
  return ReconcileResult::ok();
}

Status GarbageCollector::removeOwnerRefs(const Resource& r, const json& obj,
                                         const std::vector<std::string>& uids) {
  std::string ns = meta(obj).value("namespace", "");
  std::string name = meta(obj).value("name", "");
  auto live = client_->get(r, ns, name);
  if (!live.isOk()) return live.status().code() == Code::kNotFound ? Status::ok() : live.status();
  if (meta(*live).value("uid", "") != meta(obj).value("uid", "")) return Status::ok();
  json kept = json::array();
  for (const auto& ref : ownerRefs(*live))
    if (std::find(uids.begin(), uids.end(), ref.value("uid", "")) == uids.end()) kept.push_back(ref);
  if (kept.size() == ownerRefs(*live).size()) return Status::ok();
  json patch = json::array();
  patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                   {"value", meta(*live).value("resourceVersion", "")}});
  if (kept.empty()) patch.push_back({{"op", "remove"}, {"path", "/metadata/ownerReferences"}});
  else patch.push_back({{"op", "replace"}, {"path", "/metadata/ownerReferences"}, {"value", kept}});
  auto res = client_->patch(r, ns, name, client::PatchType::kJson, patch);
  if (!res.isOk() && res.status().code() != Code::kNotFound) return res.status();
  return Status::ok();
}

Status GarbageCollector::removeFinalizer(const Resource& r, const json& obj, const std::string& finalizer) {
  std::string ns = meta(obj).value("namespace", "");
  std::string name = meta(obj).value("name", "");
  auto live = client_->get(r, ns, name);
  if (!live.isOk()) return live.status().code() == Code::kNotFound ? Status::ok() : live.status();
  if (meta(*live).value("uid", "") != meta(obj).value("uid", "")) return Status::ok();
  if (!hasFinalizer(*live, finalizer)) return Status::ok();
  json kept = json::array();
  for (const auto& f : meta(*live)["finalizers"])
    if (f != finalizer) kept.push_back(f);
  json patch = json::array();
  patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"},
                   {"value", meta(*live).value("resourceVersion", "")}});
  if (kept.empty()) patch.push_back({{"op", "remove"}, {"path", "/metadata/finalizers"}});
  else patch.push_back({{"op", "replace"}, {"path", "/metadata/finalizers"}, {"value", kept}});
  auto res = client_->patch(r, ns, name, client::PatchType::kJson, patch);
  if (!res.isOk() && res.status().code() != Code::kNotFound) return res.status();
  return Status::ok();
}

Status GarbageCollector::deleteObject(const Resource& r, const json& obj, const std::string& policy) {
  json options = {{"propagationPolicy", policy},
                  {"preconditions", {{"uid", meta(obj).value("uid", "")}}}};
  auto res = client_->remove(r, meta(obj).value("namespace", ""), meta(obj).value("name", ""), options);
  if (!res.isOk() && res.status().code() != Code::kNotFound) {
    // A uid precondition failing means the name now holds a new object: not ours to delete.
    if (res.status().code() == Code::kConflict && res.status().message().find("Precondition") != std::string::npos)
      return Status::ok();
    return res.status();
  }
  return Status::ok();
}

}  // namespace berth::controllers
