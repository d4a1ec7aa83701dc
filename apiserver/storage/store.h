// The storage interface every backend implements (SQLite now, etcd later).
//
// A store is a revisioned key-value log, as etcd's MVCC: each successful write (create,
// update, delete) gets the next global revision. Keys look like
// /registry/<group>/<resource>/<namespace>/<name>. Values are opaque bytes.
//
// Durability: a write's Result is returned only after the write is durable (fsynced), so a
// crash at any point loses no acknowledged write.
//
// Watch: events are delivered in revision order, each exactly once, from the commit path
// (never by polling). A watcher that starts at a compacted revision gets kExpired.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace berth::storage {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
};

struct ListResult {
  std::vector<KeyValue> kvs;  // sorted by key
  int64_t revision = 0;       // the revision the list was read at
  bool more = false;          // true when `limit` cut the result short
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;                     // for kDelete: key, the deleting revision, last value
  std::optional<KeyValue> prev;    // the value before this event, when there was one
  bool created() const { return type == Type::kPut && kv.create_revision == kv.mod_revision; }
};

class Watch {
 public:
  virtual ~Watch() = default;
  // Stops delivery. After it returns the callback is not running and will not be called.
  virtual void cancel() = 0;
};

// Called with batches of events in revision order. Must not block for long.
// A final call with a non-OK Status (e.g. kExpired when the watcher fell too far behind or the
// store closed) ends the watch.
using WatchCallback = std::function<void(const std::vector<Event>& events, const Status& status)>;

class Store {
 public:
  virtual ~Store() = default;

  // Current value of `key`; at `revision` (> 0) reads history (kExpired if compacted).
  virtual Result<KeyValue> get(const std::string& key, int64_t revision = 0) = 0;

  // Keys with `prefix`, in key order, starting strictly after `start_after` (when non-empty),
  // at most `limit` (0 = all) items, at `revision` (0 = current; kExpired if compacted).
  virtual Result<ListResult> list(const std::string& prefix, const std::string& start_after,
                                  int64_t limit, int64_t revision = 0) = 0;

  // Creates `key` if absent (kAlreadyExists otherwise). Returns the new revision.
  virtual Result<int64_t> create(const std::string& key, const std::string& value) = 0;

  // create() without waiting: `done` gets the same Result once the write is durable, on
  // whichever thread committed it (possibly this one, before createAsync returns). `done`
  // must be quick and must not write to the store; it runs exactly once.
  using CreateDone = std::function<void(Result<int64_t>)>;
  virtual void createAsync(const std::string& key, std::string value, CreateDone done) = 0;

  // Replaces `key` if its mod_revision equals `expected_revision` (kConflict otherwise,
  // kNotFound if absent). Returns the new revision.
  virtual Result<int64_t> update(const std::string& key, const std::string& value,
                                 int64_t expected_revision) = 0;

  // Deletes `key` if its mod_revision equals `expected_revision` (0 = unconditionally).
  // Returns the deletion's revision and the deleted value.
  virtual Result<KeyValue> remove(const std::string& key, int64_t expected_revision) = 0;

  // Watches keys with `prefix` for events with revision > `after_revision`.
  virtual Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t after_revision,
                                               WatchCallback callback) = 0;

  virtual int64_t currentRevision() = 0;
  virtual int64_t compactedRevision() = 0;
  // Drops history at and below `revision` (never the latest value of a live key).
  virtual Status compact(int64_t revision) = 0;

  virtual void close() = 0;
};

struct SqliteOptions {
  std::string path;                    // database file
  int64_t keep_revisions = 10000;      // history window kept by background compaction
  int compact_interval_seconds = 60;   // 0 = no background compaction
  // true: synchronous=FULL, every group commit is fsynced (survives power loss). false:
  // synchronous=NORMAL, survives a process crash but may lose the last commits on power loss.
  bool sync_full = true;
  size_t watch_ring_size = 10000;      // recent events kept in memory for watch replay
  size_t watch_ring_bytes = 16 << 20;  // ... and at most this many bytes of their keys/values
  size_t watch_queue_limit = 100000;   // events queued for one watcher before it gets kExpired
};

Result<std::unique_ptr<Store>> openSqliteStore(const SqliteOptions& options);

// "sqlite://PATH" or "etcd://h1:2379,h2:2379".
Result<std::unique_ptr<Store>> openStore(const std::string& endpoint);

}  // namespace berth::storage
