// WatchCache: the API server's in-memory view of the store, one ResourceCache per resource.
//
// Filled by one list of "/registry/" at start-up and then one store watch, so it follows the
// commit path without polling. It serves lists (all of them, or a first page), consistent
// reads (waitForRevision), and fans each event out to the resource's watchers.
//
// Thread-safety: all methods are thread-safe. Events are applied and delivered on the store's
// watch thread; WatchSink::onEvents runs there (and, for the replay, on the registering
// thread under the resource's lock) and must only queue work, never block.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "apiserver/storage/store.h"
#include "common/status.h"

namespace berth {
struct JsonProjection;
}

namespace berth::apiserver {

struct CachedObject;

// A JSON tree parsed from its object's serialisation on first use and then kept. Reads like a
// `const nlohmann::json&` (conversion, operator[]). Thread-safe.
// A parsed tree is ~7x its text; reads over many objects (Table lists) use
// CachedObject::sharedTree() so they do not leave a tree behind on every object they touch.
class LazyJson {
 public:
  explicit LazyJson(const CachedObject* owner) : owner_(owner) {}
  const nlohmann::json& get() const;
  // The kept tree, or null when none was parsed yet.
  const nlohmann::json* parsed() const {
    return parsed_.load(std::memory_order_acquire) ? &tree_ : nullptr;
  }
  operator const nlohmann::json&() const { return get(); }  // NOLINT: reads as the tree
  template <typename K>
  const nlohmann::json& operator[](K&& key) const {
    return get()[std::forward<K>(key)];
  }

 private:
  const CachedObject* owner_;
  mutable std::once_flag once_;
  mutable std::atomic<bool> parsed_{false};  // tree_ is set (after once_)
  mutable nlohmann::json tree_;
};

// One cached object: its serialisation (with metadata.resourceVersion) is what the cache
// holds; the JSON tree is parsed only when a caller reads `obj` (updates, single reads,
// watches with Tables), so objects that are only listed, watched or read as JSON cost their
// bytes and no tree.
// The serialisation is held in two parts: the text with metadata.managedFields' value as
// `[]`, and that value, shared by every cached object with the same managedFields text
// (objects written by the same managers at the same second: about half of a typical pod's
// bytes are held once instead of per object). Immutable once built.
struct CachedObject {
  // Bound on the trees sharedTree() keeps (each counted at its estimated heap size).
  static constexpr size_t kSharedTreeBytes = 64 << 20;

  CachedObject(std::string key_, int64_t mod_revision_, std::string raw);
  ~CachedObject();
  CachedObject(const CachedObject&) = delete;
  CachedObject& operator=(const CachedObject&) = delete;

  const std::string key;
  const int64_t mod_revision = 0;
  const LazyJson obj{this};  // the parsed object, built on first use

  // The object serialised as compact JSON: assembled (a copy), appended, or its size.
  std::string raw() const;
  void appendRaw(std::string* out) const;
  size_t rawSize() const { return text_.size() + (managed_fields_ ? managed_fields_->size() - 2 : 0); }
  // The serialisation with metadata.managedFields as `[]` (when present): valid JSON with
  // every other member as raw(), for readers that never look at managedFields (selectors,
  // Table cells and metadata).
  const std::string& rawWithoutManagedFields() const { return text_; }
  // The shared managedFields text (null when not split out: absent or empty).
  const std::shared_ptr<const std::string>& sharedManagedFields() const { return managed_fields_; }
  // The tree for a read over many objects (Table rows), valid while this object is: the kept
  // tree `obj` when it was parsed already; else one without managedFields (empty: such
  // readers never use them) from a process-wide cache of at most kSharedTreeBytes, which
  // admits trees while it has room and drops each with its object; else a fresh parse that
  // nothing keeps.
  // With `projection`, a tree built through it (see JsonProjection) stands in for the whole one;
  // an object is always read with the same projection (its kind's).
  std::shared_ptr<const nlohmann::json> sharedTree(
      const JsonProjection* projection = nullptr) const;

 private:
  std::string text_;
  size_t managed_at_ = 0;  // index of the `[]` in text_ standing for *managed_fields_
  std::shared_ptr<const std::string> managed_fields_;  // null when not split out
  mutable std::atomic<bool> in_tree_cache_{false};
};
using ObjPtr = std::shared_ptr<const CachedObject>;

enum class EventType { kAdded, kModified, kDeleted, kBookmark, kError };
const char* eventTypeName(EventType t);

struct CacheEvent {
  EventType type = EventType::kAdded;
  ObjPtr obj;   // the new state; for kDeleted the last state with the deletion's revision
  ObjPtr prev;  // the state before (kModified, kDeleted)
  int64_t revision = 0;
};

class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Returns false when the sink is finished (client gone); it is then dropped.
  virtual bool onEvents(const std::vector<CacheEvent>& events) = 0;

  // Fan-out sharing. Sinks of one resource that return the same non-empty shareKey() (and
  // watch the same key prefix) select and encode events identically: for each batch the cache
  // calls encode() on one of them and hands the same bytes to every one through deliver(),
  // instead of calling onEvents() on each. encode() returns nullptr when no event is selected.
  virtual const std::string& shareKey() const;
  virtual std::shared_ptr<const std::string> encode(const std::vector<CacheEvent>& events) const;
  // Returns false when the sink is finished, as onEvents.
  virtual bool deliver(const std::shared_ptr<const std::string>& bytes);
  // Called once by addWatcher, under the cache's lock, after the replay (which may have been
  // empty) reflected `revision`: anything written here precedes every later event. Returns
  // false when the sink is finished.
  virtual bool onReplayed(int64_t revision);
};

// Watchers are dealt to this many fan-out waves by registration; see WatchCache.
inline constexpr size_t kFanOutWaves = 4;

// History is bounded by count and by the bytes only it keeps alive (the previous states of
// modified objects and the last states of deleted ones); a watch resuming from before the
// kept history gets 410 Expired and re-lists.
class ResourceCache {
 public:
  static constexpr size_t kDefaultHistoryBytes = 32 << 20;
  explicit ResourceCache(std::string prefix, size_t history_limit,
                         size_t history_bytes = kDefaultHistoryBytes)
      : prefix_(std::move(prefix)), history_limit_(history_limit), history_bytes_limit_(history_bytes) {}

  const std::string& prefix() const { return prefix_; }

  // Objects whose key starts with key_prefix (a namespace's prefix or the resource's), in key
  // order, and the cache revision they reflect.
  std::vector<ObjPtr> list(const std::string& key_prefix, int64_t* revision) const;
  ObjPtr get(const std::string& key) const;
  size_t size() const;

  // Registers a watcher for events after `after_revision`. With `initial_state`, first
  // replays an ADDED for every current object (resourceVersion 0 / unset). kExpired when
  // after_revision is older than the kept history.
  Result<uint64_t> addWatcher(int64_t after_revision, bool initial_state,
                              const std::string& key_prefix, std::shared_ptr<WatchSink> sink);
  void removeWatcher(uint64_t id);
  size_t watcherCount() const;

  // Applied by WatchCache: apply() on the watch thread updates the state, fanOut() on the
  // dispatcher thread delivers the same events (in order) to the watchers.
  void apply(const std::vector<CacheEvent>& events, int64_t revision);
  // Hands `events` to the watchers of one fan-out wave (a watcher's wave is its registration
  // number modulo kFanOutWaves), or to every watcher with kAllWaves. Returns how many
  // watchers were handed events.
  static constexpr size_t kAllWaves = kFanOutWaves;
  size_t fanOut(const std::vector<CacheEvent>& events, size_t wave = kAllWaves);
  // How many watchers' connections still hold the shared bytes of the wave's last fanOut
  // unsent to their socket buffers (the io loops are behind). fanOut and this: one thread only.
  size_t behindOnLastFanOut(size_t wave = kAllWaves) const;
  void setRevision(int64_t revision);
  void load(std::vector<ObjPtr> objects, int64_t revision);

 private:
  struct Watcher {
    std::string key_prefix;
    std::string share_key;  // key_prefix + sink's shareKey(), or empty when not shared
    int64_t replayed_to = 0;  // the registration replayed every event up to this revision
    size_t wave = 0;
    std::shared_ptr<WatchSink> sink;
  };
  static size_t retainedBytes(const CacheEvent& ev);

  std::string prefix_;
  size_t history_limit_;
  size_t history_bytes_limit_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ObjPtr> objects_;
  std::deque<CacheEvent> history_;
  size_t history_bytes_ = 0;      // retainedBytes() of history_
  int64_t revision_ = 0;          // last revision applied
  int64_t history_start_ = 0;     // events after this revision are all in history_
  std::map<uint64_t, std::shared_ptr<const Watcher>> watchers_;
  uint64_t next_watcher_ = 1;
  // The shared bytes of each wave's last fanOut (the last slot: kAllWaves'); fanOut's thread only.
  std::array<std::vector<std::weak_ptr<const std::string>>, kFanOutWaves + 1> last_shared_;
};

// Fan-out pacing: under a burst, each watcher is written to at most once per interval, so
// the burst reaches it in few writes. A write to a watcher's socket costs mostly per write
// (system call, loopback TCP, TLS record), not per byte, so the interval grows with the number
// of watchers the last round reached, from `fan_out_interval` (few watchers) to
// `max_fan_out_interval` (kWatchersForMaxInterval or more): many watchers get fewer, larger
// writes. A quiet stream is not paced (deliverNow): an event is fanned out at once when the
// stream has been idle for the interval, or when it is part of a small batch that follows a
// small, cheap fan-out (few events to fewer than kWatchersForPacing watchers); an endpoint
// change then reaches the node proxies without waiting for the interval.
// Waves: the watchers are dealt to kFanOutWaves waves, and under a burst each wave has its own
// slot in the interval, the waves' slots 1/kFanOutWaves of an interval apart. Each watcher
// still gets one write per interval, but a fan-out is a quarter of the watchers, so an event
// waits at most an interval for its wave plus a quarter of the fan-out's spread (one batch
// for everyone waited up to an interval and then the whole spread), and requests on the io
// loops wait behind a quarter of it.
// Back-off: when a wave is due while many of its watchers' connections still hold its last
// batch unsent (the io loops or the sockets are behind), its interval doubles, up to
// kMaxBackOffFactor times the max interval, and it halves again once they have caught up;
// a fan-out that falls behind then sends fewer, larger writes instead of queueing more small
// ones.
class WatchCache {
 public:
  static constexpr size_t kWatchersForMaxInterval = 1000;
  static constexpr size_t kSmallBatch = 8;            // events
  static constexpr size_t kWatchersForPacing = 100;   // watchers reached by the last fan-out
  // The wait before the next fan-out after one that reached `watchers_delivered` watchers.
  static std::chrono::milliseconds fanOutInterval(size_t watchers_delivered, std::chrono::milliseconds min,
                                                  std::chrono::milliseconds max);
  // The last fan-out, as the pacing decision reads it.
  struct LastFanOut {
    size_t events = 0;
    size_t watchers = 0;
    std::chrono::steady_clock::duration elapsed{};  // since it started
    std::chrono::milliseconds interval{0};          // fanOutInterval after it
  };
  // Whether `queued` pending events go out now rather than at the end of the interval.
  static bool deliverNow(size_t queued, const LastFanOut& last);
  // The start of `wave`'s current slot at `now`: slots are `interval` apart from `origin`
  // (at least an interval before now), wave w's offset by w/kFanOutWaves of an interval.
  static std::chrono::steady_clock::time_point waveSlot(
      std::chrono::steady_clock::time_point origin, std::chrono::steady_clock::time_point now,
      size_t wave, std::chrono::milliseconds interval);
  static constexpr int kMaxBackOffFactor = 2;
  // The back-off interval once `behind` of the `watchers` the last fan-out reached still hold
  // it: doubled (at least twice `paced`) when a quarter or more are behind, halved when none
  // is, else kept; at most `cap`. Zero means no back-off.
  static std::chrono::milliseconds nextBackOff(std::chrono::milliseconds current, size_t behind,
                                               size_t watchers, std::chrono::milliseconds paced,
                                               std::chrono::milliseconds cap);

  explicit WatchCache(storage::Store* store, size_t history_limit = 20000,
                      std::chrono::milliseconds fan_out_interval = std::chrono::milliseconds(10),
                      std::chrono::milliseconds max_fan_out_interval = std::chrono::milliseconds(25))
      : store_(store),
        history_limit_(history_limit),
        fan_out_interval_(fan_out_interval),
        max_fan_out_interval_(std::max(fan_out_interval, max_fan_out_interval)) {}
  ~WatchCache();

  // Declares a resource by its key prefix ("/registry/apps/deployments/"). Call before start().
  void addResource(const std::string& prefix);
  // Lists everything and starts the store watch.
  Status start();
  void stop();

  ResourceCache* resource(const std::string& prefix) const;
  int64_t revision() const;
  // Blocks until the cache has applied `revision` (or timeout). False on timeout.
  bool waitForRevision(int64_t revision, std::chrono::milliseconds timeout) const;
  // Waits until the cache reflects every write the store has acknowledged so far.
  Status waitUntilFresh(std::chrono::milliseconds timeout) const;
  // True when waitUntilFresh would return at once.
  bool isFresh() const;

 private:
  void onStoreEvents(const std::vector<storage::Event>& events, const Status& status);
  ResourceCache* route(const std::string& key) const;
  void dispatchLoop();

  storage::Store* store_;
  size_t history_limit_;
  std::chrono::milliseconds fan_out_interval_;
  std::chrono::milliseconds max_fan_out_interval_;
  // Events applied but not yet fanned out, in revision order, for the dispatcher.
  std::mutex fan_mu_;
  std::condition_variable fan_cv_;
  struct Queued {
    ResourceCache* rc;
    CacheEvent ev;
    std::chrono::steady_clock::time_point at;  // when the cache applied it
  };
  std::vector<Queued> fan_queue_;
  bool fan_stop_ = false;
  std::thread dispatcher_;
  std::map<std::string, std::unique_ptr<ResourceCache>> resources_;
  std::unique_ptr<storage::Watch> watch_;
  mutable std::mutex rev_mu_;
  mutable std::condition_variable rev_cv_;
  int64_t revision_ = 0;
};

// Decodes a stored value into a cached object (sets metadata.resourceVersion).
Result<ObjPtr> decodeStored(const storage::KeyValue& kv);
// `stored` (a JSON object without metadata.resourceVersion) with metadata.resourceVersion set
// to `revision`, spliced in as text; "" when `stored` has no metadata object or already has a
// resourceVersion.
std::string withResourceVersion(std::string_view stored, int64_t revision);
// `object` (a cached serialisation) with its metadata.resourceVersion replaced by `revision`;
// "" when it has none.
std::string replaceResourceVersion(std::string_view object, int64_t revision);

}  // namespace berth::apiserver
