// EventRecorder: writes core/v1 Events about objects, as client-go's legacy record.EventRecorder
// with its EventCorrelator does.
//
// event() only queues (bounded; when full the event is dropped and counted, as upstream's
// broadcaster does) and returns: the caller never waits on the API. One thread takes queued
// events, correlates them, and writes them:
//  - aggregation: events about one object with the same (type, reason, source) but more than
//    `aggregate_max_events` distinct messages within `aggregate_window` collapse into one event
//    whose message is prefixed "(combined from similar events): ";
//  - deduplication: an event equal to one already written (same involvedObject, type, reason,
//    message, source) increments that Event's count and lastTimestamp with a strategic-merge
//    PATCH instead of creating a new Event (a 404 on the patch creates it again);
//  - spam filter: a token bucket per (source, involvedObject) (burst 25, one token per 5 min by
//    default) drops the events a crash loop would otherwise write every few seconds.
// Events go into the involved object's namespace, "default" for cluster-scoped objects (Node).
// The Event name is "<object name>.<hex nanoseconds>", as upstream.
// Thread-safety: event() may be called from any thread; flush()/stop() from an owner thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "client/client.h"
#include "common/time_util.h"

namespace berth::client {

// The events resource (core/v1).
const Resource& eventsResource();

// A least-recently-used map with a fixed capacity: inserting past it evicts the oldest entry.
// Thread-safety: none (the recorder's thread owns its caches).
template <typename V>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}
  V* get(const std::string& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }
  V& put(const std::string& key, V value) {
    if (V* v = get(key)) return *v = std::move(value);
    order_.emplace_front(key, std::move(value));
    index_[key] = order_.begin();
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    return order_.front().second;
  }
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::list<std::pair<std::string, V>> order_;
  std::unordered_map<std::string, typename std::list<std::pair<std::string, V>>::iterator> index_;
};

class EventRecorder {
 public:
  enum class Type { kNormal, kWarning };
  struct Options {
    size_t queue_capacity = 1000;
    size_t cache_size = 4096;
    std::chrono::seconds aggregate_window{600};
    size_t aggregate_max_events = 10;
    int spam_burst = 25;
    std::chrono::seconds spam_refill{300};  // one token per this long
    int max_write_attempts = 3;
    std::chrono::milliseconds retry_delay{1000};
    const Clock* clock = nullptr;  // default SystemClock
  };

  // `component` and `host` become the Event's source (and reportingComponent/Instance).
  EventRecorder(Client* client, std::string component, std::string host, Options opts);
  EventRecorder(Client* client, std::string component, std::string host)
      : EventRecorder(client, std::move(component), std::move(host), Options()) {}
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // `involved_object` is the object itself (kind, apiVersion and metadata are read from it) or
  // an ObjectReference. An object without kind or name is logged and ignored.
  void event(const json& involved_object, Type type, const std::string& reason,
             const std::string& message);
  // Waits until every event queued before the call has been written (or given up on).
  void flush();
  // Stops the thread; events still queued are dropped.
  void stop();
  // Events dropped because the queue was full (tests, logs).
  uint64_t dropped() const;

 private:
  struct Pending {
    json ref;  // ObjectReference
    std::string type, reason, message;
    TimePoint at;
  };
  struct Written {
    std::string name;
    int64_t count = 0;
    std::string first_timestamp;
  };
  struct Aggregate {
    std::set<std::string> messages;
    TimePoint last;
  };
  struct Bucket {
    double tokens = 0;
    TimePoint last;
  };

  void run();
  void process(const Pending& p);
  bool allow(const std::string& object_key, TimePoint now);
  Status write(const std::string& ns, const json& event, bool patch_existing);

  Client* client_;
  std::string component_, host_;
  Options opts_;
  const Clock* clock_;

  // Owned by the recorder thread.
  LruCache<Written> written_;
  LruCache<Aggregate> aggregates_;
  LruCache<Bucket> buckets_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // work arrived / stopping
  std::condition_variable idle_cv_;  // queue drained
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace berth::client
