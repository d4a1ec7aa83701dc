// WatchHub: fan-out of committed events to watchers, plus a ring of recent events for replay.
//
// The commit path calls publish() with each committed batch in revision order; the hub appends
// the events to a bounded in-memory ring and to the queue of every watcher whose prefix matches.
// One delivery thread drains the watcher queues and runs the callbacks, so a slow callback never
// blocks the writer (it only delays other watchers). A watcher whose queue grows past
// `queue_limit` is ended with kExpired (it fell too far behind; it should re-list).
//
// Replay: a new watcher at `after_revision` is served from the ring when the ring still holds
// every event after it; otherwise the caller supplies a HistoryReader that reads the missing
// range from durable storage while live events are buffered behind it.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the hub's one
// delivery thread. Watch::cancel() may be called from inside a callback; after cancel() returns
// the callback is not running and will not be called again.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apiserver/storage/store.h"

namespace berth::storage {

using EventPtr = std::shared_ptr<const Event>;

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  // Reads events with revision in (from, to] whose key has `prefix`, in revision order.
  using HistoryReader = std::function<Result<std::vector<Event>>(
      const std::string& prefix, int64_t from, int64_t to)>;

  // `published_revision`: every event at or below it is already durable and will never be
  // published (e.g. the store's revision at open). The ring keeps at most `ring_size` events
  // and at most `ring_bytes` of their keys and values (the older ones are read from storage).
  WatchHub(int64_t published_revision, size_t ring_size, size_t queue_limit,
           size_t ring_bytes = SIZE_MAX);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Appends committed events (strictly increasing revisions, contiguous with earlier calls
  // except that revisions without events may be skipped via `up_to_revision`).
  void publish(std::vector<Event> events, int64_t up_to_revision);

  // `compacted_revision`: watches starting below it get kExpired.
  Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t after_revision,
                                       int64_t compacted_revision, WatchCallback callback,
                                       const HistoryReader& history);

  // Ends every watch with `status` (after queued events) and stops the delivery thread.
  void close(const Status& status);

  int64_t publishedRevision();

 private:
  struct Watcher;
  class Handle;
  void run();
  void enqueueLocked(const std::shared_ptr<Watcher>& w);
  void finishLocked(const std::shared_ptr<Watcher>& w, const Status& status);
  void cancel(const std::shared_ptr<Watcher>& w);

  const size_t ring_size_;
  const size_t queue_limit_;
  const size_t ring_bytes_limit_;

  std::mutex mu_;
  std::condition_variable ready_cv_;
  std::condition_variable idle_cv_;  // a callback finished
  std::deque<EventPtr> ring_;
  size_t ring_bytes_ = 0;       // eventBytes() of the events in ring_
  int64_t ring_base_;           // the ring holds every event with revision > ring_base_
  int64_t published_;           // highest revision published
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::deque<std::shared_ptr<Watcher>> ready_;
  bool closing_ = false;
  std::thread::id delivery_id_;
  std::thread thread_;
};

}  // namespace berth::storage
