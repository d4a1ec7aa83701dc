#include "apiserver/core/watch_cache.h"

#include <algorithm>
#include <array>
#include <deque>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "apiserver/core/json_text.h"
#include "common/json_parse.h"
#include "common/log.h"
#include "common/strings.h"

namespace berth::apiserver {

const nlohmann::json& LazyJson::get() const {
  // The source was produced by decodeStored from valid JSON, so this cannot throw in practice;
  // a failure still leaves an empty object rather than escaping into a request handler.
  std::call_once(once_, [this] {
    tree_ = parseJson(owner_->raw());
    if (tree_.is_discarded()) tree_ = nlohmann::json::object();
    parsed_.store(true, std::memory_order_release);
  });
  return tree_;
}

namespace {

// The managedFields texts of live cached objects, each held once. An entry is removed by the
// deleter of its last holder (unless a newer string with the same text replaced it).
class ManagedFieldsPool {
 public:
  std::shared_ptr<const std::string> intern(std::string_view text) {
    std::lock_guard lock(mu_);
    auto it = pool_.find(text);
    if (it != pool_.end()) {
      if (auto held = it->second.lock()) return held;
      pool_.erase(it);  // its last holder is being destroyed
    }
    auto* s = new std::string(text);
    std::shared_ptr<const std::string> held(s, [this](const std::string* p) { release(p); });
    pool_.emplace(std::string_view(*s), held);
    return held;
  }

 private:
  void release(const std::string* p) {
    {
      std::lock_guard lock(mu_);
      auto it = pool_.find(*p);
      if (it != pool_.end() && it->first.data() == p->data()) pool_.erase(it);
    }
    delete p;
  }

  std::mutex mu_;
  std::unordered_map<std::string_view, std::weak_ptr<const std::string>> pool_;
};

ManagedFieldsPool& managedFieldsPool() {
  static auto* pool = new ManagedFieldsPool();  // never destroyed: objects may outlive main
  return *pool;
}

// Trees of cached objects for readers over many objects, bounded by estimated bytes. Admits
// while below the bound (a scan larger than the bound keeps its first objects' trees instead
// of evicting each one before it is read again); an entry leaves with its object.
class SharedTreeCache {
 public:
  std::shared_ptr<const nlohmann::json> find(const CachedObject* o) {
    std::lock_guard lock(mu_);
    auto it = trees_.find(o);
    return it == trees_.end() ? nullptr : it->second.tree;
  }
  // False when there is no room.
  bool add(const CachedObject* o, std::shared_ptr<const nlohmann::json> tree, size_t bytes) {
    std::lock_guard lock(mu_);
    if (bytes_ + bytes > CachedObject::kSharedTreeBytes) return false;
    if (trees_.emplace(o, Entry{std::move(tree), bytes}).second) bytes_ += bytes;
    return true;
  }
  void forget(const CachedObject* o) {
    std::shared_ptr<const nlohmann::json> dropped;  // freed outside the lock
    std::lock_guard lock(mu_);
    auto it = trees_.find(o);
    if (it == trees_.end()) return;
    bytes_ -= it->second.bytes;
    dropped = std::move(it->second.tree);
    trees_.erase(it);
  }

 private:
  struct Entry {
    std::shared_ptr<const nlohmann::json> tree;
    size_t bytes = 0;
  };
  std::mutex mu_;
  std::unordered_map<const CachedObject*, Entry> trees_;
  size_t bytes_ = 0;
};

// About what a tree takes on the heap: a value is 16 bytes, an object member a map node (~48
// bytes) with its key, a string its characters beyond the 15 kept inline, an array its slots.
size_t approxTreeBytes(const nlohmann::json& j) {
  auto heapString = [](const std::string& s) { return s.size() > 15 ? 32 + s.size() : 32; };
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      size_t n = 0;
      for (const auto& [k, v] : j.get_ref<const nlohmann::json::object_t&>())
        n += 48 + heapString(k) + approxTreeBytes(v);
      return n;
    }
    case nlohmann::json::value_t::array: {
      size_t n = 16 * j.get_ref<const nlohmann::json::array_t&>().capacity();
      for (const auto& v : j) n += approxTreeBytes(v);
      return n;
    }
    case nlohmann::json::value_t::string:
      return 16 + heapString(j.get_ref<const std::string&>());
    default:
      return 16;
  }
}

SharedTreeCache& sharedTreeCache() {
  static auto* cache = new SharedTreeCache();  // never destroyed: objects may outlive main
  return *cache;
}

}  // namespace

CachedObject::CachedObject(std::string key_, int64_t mod_revision_, std::string raw)
    : key(std::move(key_)), mod_revision(mod_revision_) {
  using jsontext::findMember;
  using jsontext::npos;
  using jsontext::skipSpace;
  using jsontext::skipValue;
  size_t meta = findMember(raw, skipSpace(raw, 0), "\"metadata\"");
  size_t at = meta == npos || raw[meta] != '{' ? npos : findMember(raw, meta, "\"managedFields\"");
  size_t end = at == npos ? npos : skipValue(raw, at);
  // Short values (absent, empty) are not worth a shared string.
  if (end == npos || end - at <= 2) {
    text_ = std::move(raw);
    return;
  }
  managed_fields_ = managedFieldsPool().intern(std::string_view(raw).substr(at, end - at));
  managed_at_ = at;
  text_.reserve(raw.size() - (end - at) + 2);
  text_.append(raw, 0, at);
  text_ += "[]";
  text_.append(raw, end, std::string::npos);
}

CachedObject::~CachedObject() {
  if (in_tree_cache_.load(std::memory_order_acquire)) sharedTreeCache().forget(this);
}

std::shared_ptr<const nlohmann::json> CachedObject::sharedTree(
    const JsonProjection* projection) const {
  // Not owned: the caller holds this object, which holds its kept tree.
  if (const nlohmann::json* kept = obj.parsed()) return {std::shared_ptr<const nlohmann::json>(), kept};
  if (in_tree_cache_.load(std::memory_order_acquire))
    if (auto t = sharedTreeCache().find(this)) return t;
  auto tree = std::make_shared<nlohmann::json>();
  if (!projection || !parseJsonProjected(text_, *projection, tree.get())) *tree = parseJson(text_);
  if (tree->is_discarded()) *tree = nlohmann::json::object();
  std::shared_ptr<const nlohmann::json> out = std::move(tree);
  if (sharedTreeCache().add(this, out, approxTreeBytes(*out)))
    in_tree_cache_.store(true, std::memory_order_release);
  return out;
}

void CachedObject::appendRaw(std::string* out) const {
  if (!managed_fields_) {
    *out += text_;
    return;
  }
  std::string_view t = text_;
  out->append(t.substr(0, managed_at_));
  *out += *managed_fields_;
  out->append(t.substr(managed_at_ + 2));
}

std::string CachedObject::raw() const {
  if (!managed_fields_) return text_;
  std::string out;
  out.reserve(rawSize());
  appendRaw(&out);
  return out;
}

const char* eventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded: return "ADDED";
    case EventType::kModified: return "MODIFIED";
    case EventType::kDeleted: return "DELETED";
    case EventType::kBookmark: return "BOOKMARK";
    case EventType::kError: return "ERROR";
  }
  return "ERROR";
}

std::string withResourceVersion(std::string_view stored, int64_t revision) {
  using jsontext::findMember;
  using jsontext::skipSpace;
  // Stored objects carry no resourceVersion (the revision is the row's): splice it in as the
  // first member of metadata instead of parsing and re-serialising the whole object.
  size_t meta = findMember(stored, skipSpace(stored, 0), "\"metadata\"");
  if (meta == jsontext::npos || stored[meta] != '{') return {};
  if (findMember(stored, meta, "\"resourceVersion\"") != jsontext::npos) return {};
  size_t at = meta + 1;
  std::string field = "\"resourceVersion\":\"" + std::to_string(revision) + "\"";
  size_t next = skipSpace(stored, at);
  bool empty = next < stored.size() && stored[next] == '}';
  std::string out;
  out.reserve(stored.size() + field.size() + 1);
  out.append(stored.substr(0, at));
  out += field;
  if (!empty) out += ',';
  out.append(stored.substr(at));
  return out;
}

std::string replaceResourceVersion(std::string_view object, int64_t revision) {
  using jsontext::findMember;
  size_t meta = findMember(object, jsontext::skipSpace(object, 0), "\"metadata\"");
  if (meta == jsontext::npos || object[meta] != '{') return {};
  size_t at = findMember(object, meta, "\"resourceVersion\"");
  if (at == jsontext::npos) return {};
  size_t end = jsontext::skipValue(object, at);
  if (end == jsontext::npos) return {};
  std::string out;
  out.reserve(object.size() + 8);
  out.append(object.substr(0, at));
  out += '"' + std::to_string(revision) + '"';
  out.append(object.substr(end));
  return out;
}

Result<ObjPtr> decodeStored(const storage::KeyValue& kv) {
  std::string raw = withResourceVersion(kv.value, kv.mod_revision);
  if (raw.empty()) {
    // No metadata object to splice into, or a stored resourceVersion to replace: the slow way.
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(kv.value);
    } catch (const nlohmann::json::exception& e) {
      return internalError("stored object " + kv.key + " is not valid JSON: " + e.what());
    }
    if (!obj.is_object()) return internalError("stored object " + kv.key + " is not an object");
    obj["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
    raw = obj.dump();
  }
  return ObjPtr(std::make_shared<const CachedObject>(kv.key, kv.mod_revision, std::move(raw)));
}

const std::string& WatchSink::shareKey() const {
  static const std::string kNone;
  return kNone;
}

std::shared_ptr<const std::string> WatchSink::encode(const std::vector<CacheEvent>&) const {
  return nullptr;
}

bool WatchSink::deliver(const std::shared_ptr<const std::string>&) { return true; }

bool WatchSink::onReplayed(int64_t) { return true; }

// ---- ResourceCache ----

std::vector<ObjPtr> ResourceCache::list(const std::string& key_prefix, int64_t* revision) const {
  std::shared_lock lock(mu_);
  std::vector<ObjPtr> out;
  for (auto it = objects_.lower_bound(key_prefix);
       it != objects_.end() && startsWith(it->first, key_prefix); ++it)
    out.push_back(it->second);
  if (revision) *revision = revision_;
  return out;
}

ObjPtr ResourceCache::get(const std::string& key) const {
  std::shared_lock lock(mu_);
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

size_t ResourceCache::size() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

Result<uint64_t> ResourceCache::addWatcher(int64_t after_revision, bool initial_state,
                                           const std::string& key_prefix,
                                           std::shared_ptr<WatchSink> sink) {
  std::unique_lock lock(mu_);
  std::vector<CacheEvent> replay;
  if (initial_state) {
    for (auto it = objects_.lower_bound(key_prefix);
         it != objects_.end() && startsWith(it->first, key_prefix); ++it)
      replay.push_back({EventType::kAdded, it->second, nullptr, it->second->mod_revision});
  } else {
    if (after_revision < history_start_) {
      return Status(Code::kExpired, "too old resource version: " + std::to_string(after_revision) +
                                        " (" + std::to_string(history_start_) + ")");
    }
    for (const auto& ev : history_) {
      if (ev.revision > after_revision && startsWith(ev.obj->key, key_prefix)) replay.push_back(ev);
    }
  }
  if (!replay.empty() && !sink->onEvents(replay)) return Status(Code::kUnavailable, "watcher gone");
  if (!sink->onReplayed(revision_)) return Status(Code::kUnavailable, "watcher gone");
  uint64_t id = next_watcher_++;
  auto w = std::make_shared<Watcher>();
  w->key_prefix = key_prefix;
  w->replayed_to = revision_;
  w->wave = id % kFanOutWaves;
  const std::string& share = sink->shareKey();
  if (!share.empty()) w->share_key = key_prefix + '\n' + share;
  w->sink = std::move(sink);
  watchers_.emplace(id, std::move(w));
  return id;
}

void ResourceCache::removeWatcher(uint64_t id) {
  std::unique_lock lock(mu_);
  watchers_.erase(id);
}

size_t ResourceCache::watcherCount() const {
  std::shared_lock lock(mu_);
  return watchers_.size();
}

size_t ResourceCache::retainedBytes(const CacheEvent& ev) {
  size_t n = sizeof(CacheEvent);
  if (ev.prev) n += ev.prev->rawSize();
  if (ev.type == EventType::kDeleted) n += ev.obj->rawSize();
  return n;
}

void ResourceCache::load(std::vector<ObjPtr> objects, int64_t revision) {
  std::unique_lock lock(mu_);
  objects_.clear();
  for (auto& o : objects) objects_[o->key] = std::move(o);
  revision_ = revision;
  history_start_ = revision;
  history_.clear();
  history_bytes_ = 0;
}

void ResourceCache::setRevision(int64_t revision) {
  std::unique_lock lock(mu_);
  if (revision > revision_) revision_ = revision;
}

void ResourceCache::apply(const std::vector<CacheEvent>& events, int64_t revision) {
  std::unique_lock lock(mu_);
  for (const auto& ev : events) {
    if (ev.type == EventType::kDeleted) objects_.erase(ev.obj->key);
    else objects_[ev.obj->key] = ev.obj;
    history_bytes_ += retainedBytes(ev);
    history_.push_back(ev);
  }
  while (history_.size() > history_limit_ ||
         (history_bytes_ > history_bytes_limit_ && history_.size() > 1)) {
    history_start_ = history_.front().revision;
    history_bytes_ -= retainedBytes(history_.front());
    history_.pop_front();
  }
  if (revision > revision_) revision_ = revision;
}

size_t ResourceCache::fanOut(const std::vector<CacheEvent>& events, size_t wave) {
  std::vector<std::shared_ptr<const Watcher>> targets;
  {
    std::shared_lock lock(mu_);
    targets.reserve(wave == kAllWaves ? watchers_.size() : watchers_.size() / kFanOutWaves + 1);
    for (const auto& [id, w] : watchers_)
      if (wave == kAllWaves || w->wave == wave) targets.push_back(w);
  }
  if (targets.empty() || events.empty()) return 0;
  size_t delivered = 0;
  // Encoded bytes per share key, for this batch: the encoding and filtering are done once
  // per distinct (prefix, selector, format), however many watchers share them.
  std::unordered_map<std::string_view, std::shared_ptr<const std::string>> encoded;
  std::vector<std::weak_ptr<const std::string>> shared;
  std::vector<const Watcher*> dead;
  auto select = [&](const Watcher& w) {
    std::vector<CacheEvent> mine;
    for (const auto& ev : events)
      if (ev.revision > w.replayed_to && startsWith(ev.obj->key, w.key_prefix)) mine.push_back(ev);
    return mine;
  };
  for (const auto& w : targets) {
    bool alive = true;
    // A watcher registered during this batch already had its first events replayed.
    bool fresh_watcher = w->replayed_to >= events.front().revision;
    if (!w->share_key.empty() && !fresh_watcher) {
      auto [it, first] = encoded.try_emplace(w->share_key);
      if (first) {
        auto mine = select(*w);
        if (!mine.empty()) it->second = w->sink->encode(mine);
      }
      if (it->second) {
        if (first) shared.push_back(it->second);
        alive = w->sink->deliver(it->second);
        ++delivered;
      }
    } else {
      auto mine = select(*w);
      if (!mine.empty()) {
        alive = w->sink->onEvents(mine);
        ++delivered;
      }
    }
    if (!alive) dead.push_back(w.get());
  }
  if (!dead.empty()) {
    std::unique_lock lock(mu_);
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      if (std::find(dead.begin(), dead.end(), it->second.get()) != dead.end()) it = watchers_.erase(it);
      else ++it;
    }
  }
  last_shared_[wave] = std::move(shared);
  return delivered;
}

size_t ResourceCache::behindOnLastFanOut(size_t wave) const {
  // Once fanOut returns, each reference to a batch's shared bytes is a connection that has
  // not yet taken them.
  size_t behind = 0;
  for (const auto& w : last_shared_[wave]) behind += static_cast<size_t>(w.use_count());
  return behind;
}

// ---- WatchCache ----

WatchCache::~WatchCache() { stop(); }

void WatchCache::addResource(const std::string& prefix) {
  if (!resources_.count(prefix))
    resources_[prefix] = std::make_unique<ResourceCache>(prefix, history_limit_);
}

ResourceCache* WatchCache::resource(const std::string& prefix) const {
  auto it = resources_.find(prefix);
  return it == resources_.end() ? nullptr : it->second.get();
}

ResourceCache* WatchCache::route(const std::string& key) const {
  // Keys are /registry/<group>/<resource>/...: the prefix is the first three segments.
  size_t p = 0;
  for (int i = 0; i < 3 && p != std::string::npos; ++i) p = key.find('/', p + 1);
  if (p == std::string::npos) return nullptr;
  return resource(key.substr(0, p + 1));
}

Status WatchCache::start() {
  auto listed = store_->list("/registry/", "", 0, 0);
  if (!listed.isOk()) return listed.status().withContext("listing the store for the watch cache");
  std::map<ResourceCache*, std::vector<ObjPtr>> by_resource;
  for (const auto& kv : listed->kvs) {
    ResourceCache* rc = route(kv.key);
    if (!rc) continue;
    auto obj = decodeStored(kv);
    if (!obj.isOk()) {
      BLOG_ERROR("skipping undecodable object").kv("key", kv.key).kv("err", obj.status().message());
      continue;
    }
    by_resource[rc].push_back(std::move(obj).value());
  }
  for (auto& [prefix, rc] : resources_) rc->load(std::move(by_resource[rc.get()]), listed->revision);
  {
    std::lock_guard<std::mutex> lock(rev_mu_);
    revision_ = listed->revision;
  }
  auto w = store_->watch("/registry/", listed->revision,
                         [this](const std::vector<storage::Event>& events, const Status& st) {
                           onStoreEvents(events, st);
                         });
  if (!w.isOk()) return w.status().withContext("watching the store");
  watch_ = std::move(w).value();
  dispatcher_ = std::thread([this] { dispatchLoop(); });
  return Status::ok();
}

void WatchCache::stop() {
  if (watch_) {
    watch_->cancel();
    watch_.reset();
  }
  {
    std::lock_guard<std::mutex> lock(fan_mu_);
    fan_stop_ = true;
  }
  fan_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
}

std::chrono::milliseconds WatchCache::fanOutInterval(size_t watchers_delivered,
                                                     std::chrono::milliseconds min,
                                                     std::chrono::milliseconds max) {
  if (max < min) max = min;
  size_t n = std::min(watchers_delivered, kWatchersForMaxInterval);
  return min + (max - min) * static_cast<int64_t>(n) / static_cast<int64_t>(kWatchersForMaxInterval);
}

bool WatchCache::deliverNow(size_t queued, const LastFanOut& last) {
  if (last.elapsed >= last.interval) return true;
  return queued <= kSmallBatch && last.events <= kSmallBatch && last.watchers < kWatchersForPacing;
}

std::chrono::milliseconds WatchCache::nextBackOff(std::chrono::milliseconds current, size_t behind,
                                                  size_t watchers, std::chrono::milliseconds paced,
                                                  std::chrono::milliseconds cap) {
  if (watchers >= kWatchersForPacing && behind * 4 >= watchers)
    return std::min(std::max(current * 2, paced * 2), cap);
  if (behind == 0) return current / 2 < paced ? std::chrono::milliseconds(0) : current / 2;
  return current;
}

std::chrono::steady_clock::time_point WatchCache::waveSlot(
    std::chrono::steady_clock::time_point origin, std::chrono::steady_clock::time_point now,
    size_t wave, std::chrono::milliseconds interval) {
  if (interval.count() <= 0) return now;
  auto phase = origin + interval * static_cast<int64_t>(wave) / static_cast<int64_t>(kFanOutWaves);
  if (now < phase) return phase - interval;
  return phase + ((now - phase) / interval) * interval;
}

void WatchCache::dispatchLoop() {
  using Clock = std::chrono::steady_clock;
  const auto back_off_cap = max_fan_out_interval_ * kMaxBackOffFactor;
  struct Wave {
    uint64_t next = 0;       // sequence number of the first event not yet handed to it
    Clock::time_point last;  // its last fan-out
    LastFanOut fan;          // its last fan-out, as deliverNow reads it
    std::chrono::milliseconds back_off{0};
    bool back_off_checked = false;  // back_off was updated since its last fan-out
  };
  const Clock::time_point origin = Clock::now() - max_fan_out_interval_;
  std::array<Wave, kFanOutWaves> waves;
  for (auto& w : waves)
    w.last = origin - max_fan_out_interval_;  // idle: the first event goes at once
  std::deque<Queued> pending;  // events some wave has not been handed yet, oldest first
  uint64_t pending_first = 0;  // sequence number of pending.front()
  std::unique_lock<std::mutex> lock(fan_mu_);
  while (true) {
    fan_cv_.wait(lock, [&] { return fan_stop_ || !fan_queue_.empty() || !pending.empty(); });
    if (fan_stop_) return;
    for (auto& q : fan_queue_) pending.push_back(std::move(q));
    fan_queue_.clear();
    const uint64_t end = pending_first + pending.size();
    const auto now = Clock::now();
    size_t reached = 0;  // watchers the last round of the waves reached
    for (const auto& w : waves) reached += w.fan.watchers;
    const auto paced = fanOutInterval(reached, fan_out_interval_, max_fan_out_interval_);
    std::vector<size_t> due_now;
    auto next_due = Clock::time_point::max();
    for (size_t i = 0; i < waves.size(); ++i) {
      Wave& w = waves[i];
      if (w.next == end) continue;
      LastFanOut last = w.fan;
      last.watchers = reached;
      last.elapsed = now - w.last;
      last.interval = paced;
      // A wave goes once per slot (or at once while quiet); a wave behind waits longer.
      const auto slot = waveSlot(origin, now, i, paced);
      auto due = deliverNow(end - w.next, last) || w.last < slot ? now : slot + paced;
      if (due <= now && !w.back_off_checked) {
        size_t behind = 0;
        for (auto& [prefix, rc] : resources_) behind += rc->behindOnLastFanOut(i);
        w.back_off = nextBackOff(w.back_off, behind, w.fan.watchers, paced, back_off_cap);
        w.back_off_checked = true;
      }
      if (w.back_off > paced) due = std::max(due, w.last + w.back_off);
      if (due <= now)
        due_now.push_back(i);
      else
        next_due = std::min(next_due, due);
    }
    if (due_now.empty()) {
      // Wake for the next wave's slot, or earlier for new events (an idle wave takes them at once).
      fan_cv_.wait_until(lock, next_due, [&] { return fan_stop_ || !fan_queue_.empty(); });
      continue;
    }
    lock.unlock();
    for (size_t i : due_now) {
      Wave& w = waves[i];
      std::map<ResourceCache*, std::vector<CacheEvent>> by_resource;
      for (uint64_t seq = w.next; seq < end; ++seq) {
        const Queued& q = pending[seq - pending_first];
        by_resource[q.rc].push_back(q.ev);
      }
      auto waited = now - pending[w.next - pending_first].at;
      auto started = Clock::now();
      size_t delivered = 0;
      for (auto& [rc, evs] : by_resource) delivered += rc->fanOut(evs, i);
      w.fan.events = end - w.next;
      w.fan.watchers = delivered;
      w.next = end;
      w.last = now;
      w.back_off_checked = false;
      BLOG(5, "watch fan-out")
          .kv("wave", i)
          .kv("events", w.fan.events)
          .kv("watchers", delivered)
          .kv("intervalMs", std::max(paced, w.back_off).count())
          .kv("queuedUs", std::chrono::duration_cast<std::chrono::microseconds>(waited).count())
          .kv("fanOutUs",
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started)
                  .count());
    }
    uint64_t first_needed = end;
    for (const auto& w : waves) first_needed = std::min(first_needed, w.next);
    while (pending_first < first_needed) {
      pending.pop_front();
      ++pending_first;
    }
    lock.lock();
  }
}

void WatchCache::onStoreEvents(const std::vector<storage::Event>& events, const Status& status) {
  if (!status.isOk()) {
    // The store ended our watch (it closed, or we fell behind its history). Nothing can be
    // served consistently any more; this is a broken invariant for a single-process server.
    BLOG_ERROR("watch cache lost its store watch").kv("err", status.message());
    return;
  }
  std::map<ResourceCache*, std::vector<CacheEvent>> by_resource;
  int64_t last = 0;
  for (const auto& ev : events) {
    last = std::max(last, ev.kv.mod_revision);
    ResourceCache* rc = route(ev.kv.key);
    if (!rc) continue;
    auto obj = decodeStored(ev.kv);
    if (!obj.isOk()) {
      BLOG_ERROR("skipping undecodable event").kv("key", ev.kv.key);
      continue;
    }
    CacheEvent ce;
    ce.revision = ev.kv.mod_revision;
    ce.obj = std::move(obj).value();
    if (ev.prev) {
      auto prev = decodeStored(*ev.prev);
      if (prev.isOk()) ce.prev = std::move(prev).value();
    }
    if (ev.type == storage::Event::Type::kDelete) ce.type = EventType::kDeleted;
    else ce.type = ce.prev ? EventType::kModified : EventType::kAdded;
    by_resource[rc].push_back(std::move(ce));
  }
  for (auto& [rc, evs] : by_resource) rc->apply(evs, last);
  for (auto& [prefix, rc] : resources_) rc->setRevision(last);
  {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(fan_mu_);
    for (auto& [rc, evs] : by_resource)
      for (auto& ev : evs) fan_queue_.push_back({rc, std::move(ev), now});
  }
  fan_cv_.notify_one();
  {
    std::lock_guard<std::mutex> lock(rev_mu_);
    if (last > revision_) revision_ = last;
  }
  rev_cv_.notify_all();
}

int64_t WatchCache::revision() const {
  std::lock_guard<std::mutex> lock(rev_mu_);
  return revision_;
}

bool WatchCache::waitForRevision(int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(rev_mu_);
  return rev_cv_.wait_for(lock, timeout, [&] { return revision_ >= revision; });
}

bool WatchCache::isFresh() const { return revision() >= store_->currentRevision(); }

Status WatchCache::waitUntilFresh(std::chrono::milliseconds timeout) const {
  int64_t target = store_->currentRevision();
  if (!waitForRevision(target, timeout))
    return Status(Code::kTimeout, "Timeout: Too large resource version: " + std::to_string(target) +
                                      ", current: " + std::to_string(revision()));
  return Status::ok();
}

}  // namespace berth::apiserver
