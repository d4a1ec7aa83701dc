#include "client/informer.h"

#include <algorithm>

#include "common/log.h"

namespace berth::client {

const char kIndexNamespace[] = "namespace";
const char kIndexOwnerUid[] = "ownerUid";

std::string objectKey(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const json& m = obj["metadata"];
  std::string ns = m.value("namespace", "");
  std::string name = m.value("name", "");
  return ns.empty() ? name : ns + "/" + name;
}

void splitKey(const std::string& key, std::string* ns, std::string* name) {
  auto slash = key.find('/');
  if (slash == std::string::npos) {
    ns->clear();
    *name = key;
  } else {
    *ns = key.substr(0, slash);
    *name = key.substr(slash + 1);
  }
}

std::vector<std::string> namespaceIndex(const json& obj) {
  std::string ns = obj["metadata"].value("namespace", "");
  if (ns.empty()) return {};
  return {ns};
}

std::vector<std::string> ownerUidIndex(const json& obj) {
  std::vector<std::string> out;
  const json& m = obj["metadata"];
  if (!m.contains("ownerReferences") || !m["ownerReferences"].is_array()) return out;
  for (const auto& ref : m["ownerReferences"])
    if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) out.push_back(ref["uid"]);
  return out;
}

Informer::Informer(Client* client, Resource resource, Options opts)
    : client_(client), resource_(std::move(resource)), opts_(std::move(opts)) {
  indexers_[kIndexNamespace] = namespaceIndex;
}

Informer::~Informer() { stop(); }

void Informer::addEventHandlers(EventHandlers h) { handlers_.push_back(std::move(h)); }

void Informer::addIndexer(const std::string& name, IndexFunc fn) { indexers_[name] = std::move(fn); }

void Informer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  if (opts_.resync.count() > 0) {
    resync_thread_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      while (!stopping_) {
        if (cv_.wait_for(l, opts_.resync, [&] { return stopping_; })) break;
        l.unlock();
        resyncAll();
        l.lock();
      }
    });
  }
}

void Informer::cancel() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  cancel_.cancel();
}

void Informer::stop() {
  cancel();
  if (thread_.joinable()) thread_.join();
  if (resync_thread_.joinable()) resync_thread_.join();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, timeout, [&] { return synced_.load() || stopping_; });
  return synced_.load();
}

ObjectPtr Informer::get(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Informer::list() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

std::vector<std::string> Informer::keys() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

std::vector<ObjectPtr> Informer::byIndex(const std::string& index, const std::string& value) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto keys = idx->second.find(value);
  if (keys == idx->second.end()) return out;
  for (const auto& k : keys->second) {
    auto it = items_.find(k);
    if (it != items_.end()) out.push_back(it->second);
  }
  return out;
}

std::string Informer::lastResourceVersion() const {
  std::lock_guard<std::mutex> l(mu_);
  return rv_;
}

void Informer::putLocked(const std::string& key, ObjectPtr obj) {
  eraseLocked(key);
  for (const auto& [name, fn] : indexers_)
    for (const auto& v : fn(*obj)) indexes_[name][v].insert(key);
  items_[key] = std::move(obj);
}

void Informer::eraseLocked(const std::string& key) {
  auto it = items_.find(key);
  if (it == items_.end()) return;
  for (const auto& [name, fn] : indexers_) {
    auto& idx = indexes_[name];
    for (const auto& v : fn(*it->second)) {
      auto vit = idx.find(v);
      if (vit == idx.end()) continue;
      vit->second.erase(key);
      if (vit->second.empty()) idx.erase(vit);
    }
  }
  items_.erase(it);
}

namespace {

struct Event {
  enum Type { kAdd, kUpdate, kDelete } type;
  ObjectPtr old_obj, obj;
};

}  // namespace

Status Informer::listAndReplace() {
  std::vector<json> all;
  std::string rv;
  ListOptions lo;
  lo.limit = 500;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  while (true) {
    auto r = client_->list(resource_, opts_.ns, lo);
    if (!r.isOk()) return r.status();
    json& page = *r;
    if (page.contains("items") && page["items"].is_array())
      for (auto& it : page["items"]) {
        if (opts_.transform && it.is_object()) opts_.transform(it);
        all.push_back(std::move(it));
      }
    const json& meta = page.value("metadata", json::object());
    rv = meta.value("resourceVersion", rv);
    std::string cont = meta.value("continue", "");
    if (cont.empty()) break;
    lo.continue_token = cont;
  }
  std::vector<Event> events;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::set<std::string> seen;
    for (auto& item : all) {
      if (!item.is_object() || !item.contains("metadata")) continue;
      item["kind"] = resource_.kind;
      item["apiVersion"] = resource_.groupVersion();
      std::string key = objectKey(item);
      seen.insert(key);
      auto obj = std::make_shared<const json>(std::move(item));
      auto it = items_.find(key);
      if (it == items_.end()) {
        events.push_back({Event::kAdd, nullptr, obj});
      } else if ((*it->second)["metadata"].value("resourceVersion", "") !=
                 (*obj)["metadata"].value("resourceVersion", "")) {
        events.push_back({Event::kUpdate, it->second, obj});
      }
      putLocked(key, obj);
    }
    std::vector<std::string> gone;
    for (const auto& [k, v] : items_)
      if (!seen.count(k)) gone.push_back(k);
    for (const auto& k : gone) {
      events.push_back({Event::kDelete, nullptr, items_[k]});
      eraseLocked(k);
    }
    rv_ = rv;
  }
  for (const auto& e : events)
    for (const auto& h : handlers_) {
      if (e.type == Event::kAdd && h.on_add) h.on_add(e.obj);
      if (e.type == Event::kUpdate && h.on_update) h.on_update(e.old_obj, e.obj);
      if (e.type == Event::kDelete && h.on_delete) h.on_delete(e.obj);
    }
  if (!synced_.exchange(true)) {
    {
      std::lock_guard<std::mutex> l(mu_);
    }
    cv_.notify_all();
    BLOG(4, "informer synced").kv("resource", resource_.id()).kv("items", all.size());
  }
  return Status::ok();
}

void Informer::apply(const std::string& type, json obj) {
  if (!obj.is_object() || !obj.contains("metadata")) return;
  if (opts_.transform) opts_.transform(obj);
  obj["kind"] = resource_.kind;
  obj["apiVersion"] = resource_.groupVersion();
  std::string key = objectKey(obj);
  std::string rv = obj["metadata"].value("resourceVersion", "");
  Event ev{Event::kAdd, nullptr, nullptr};
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!rv.empty()) rv_ = rv;
    if (type == "BOOKMARK") return;
    auto it = items_.find(key);
    ObjectPtr old = it == items_.end() ? nullptr : it->second;
    if (type == "DELETED") {
      if (!old) return;
      eraseLocked(key);
      ev = {Event::kDelete, nullptr, std::make_shared<const json>(std::move(obj))};
    } else {
      auto p = std::make_shared<const json>(std::move(obj));
      putLocked(key, p);
      ev = old ? Event{Event::kUpdate, old, p} : Event{Event::kAdd, nullptr, p};
    }
  }
  for (const auto& h : handlers_) {
    if (ev.type == Event::kAdd && h.on_add) h.on_add(ev.obj);
    if (ev.type == Event::kUpdate && h.on_update) h.on_update(ev.old_obj, ev.obj);
    if (ev.type == Event::kDelete && h.on_delete) h.on_delete(ev.obj);
  }
}

Status Informer::watchOnce(bool* expired) {
  WatchOptions wo;
  wo.resource_version = lastResourceVersion();
  wo.timeout_seconds = opts_.watch_timeout_seconds;
  wo.label_selector = opts_.label_selector;
  wo.field_selector = opts_.field_selector;
  Status event_error;
  Status st = client_->watch(
      resource_, opts_.ns, wo,
      [&](json& ev) {
        std::string type = ev.value("type", "");
        json obj = ev.contains("object") ? std::move(ev["object"]) : json();
        if (type == "ERROR") {
          long code = obj.is_object() && obj.contains("code") && obj["code"].is_number_integer()
                          ? obj["code"].get<long>() : 500;
          event_error = statusFromResponse(code, obj.is_object() ? obj.dump() : "");
          if (code == 410) *expired = true;
          return false;
        }
        apply(type, std::move(obj));
        return true;
      },
      &cancel_);
  if (!st.isOk()) {
    if (st.code() == Code::kExpired) *expired = true;
    return st;
  }
  return event_error;
}

void Informer::run() {
  auto backoff = opts_.min_backoff;
  auto wait = [&]() {
    bool stop = cancel_.waitFor(backoff);
    backoff = std::min(backoff * 2, opts_.max_backoff);
    return stop;
  };
  while (!cancel_.cancelled()) {
    Status st = listAndReplace();
    if (!st.isOk()) {
      BLOG(2, "informer list failed").kv("resource", resource_.id()).kv("err", st.toString());
      if (wait()) return;
      continue;
    }
    while (!cancel_.cancelled()) {
      bool expired = false;
      Status w = watchOnce(&expired);
      if (cancel_.cancelled()) return;
      if (expired) {
        BLOG(4, "informer watch expired, re-listing").kv("resource", resource_.id());
        break;
      }
      if (!w.isOk()) {
        BLOG(2, "informer watch failed").kv("resource", resource_.id()).kv("err", w.toString());
        if (wait()) return;
        break;
      }
      backoff = opts_.min_backoff;
    }
  }
}

void Informer::resyncAll() {
  auto all = list();
  for (const auto& obj : all)
    for (const auto& h : handlers_)
      if (h.on_update) h.on_update(obj, obj);
}

Informer* InformerFactory::informerFor(const Resource& r) {
  std::lock_guard<std::mutex> l(mu_);
  auto& slot = informers_[r.id()];
  if (!slot) slot = std::make_unique<Informer>(client_, r, defaults_);
  return slot.get();
}

void InformerFactory::start() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, inf] : informers_)
    if (started_.insert(id).second) inf->start();
}

void InformerFactory::stop() {
  std::vector<Informer*> all = informers();
  for (auto* i : all) i->cancel();  // a watch notices within a second: cancel all, then join
  for (auto* i : all) i->stop();
}

bool InformerFactory::allSynced() const {
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [id, inf] : informers_)
    if (!inf->hasSynced()) return false;
  return true;
}

std::vector<Informer*> InformerFactory::informers() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Informer*> out;
  for (const auto& [id, inf] : informers_) out.push_back(inf.get());
  return out;
}

}  // namespace berth::client
