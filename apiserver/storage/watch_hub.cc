#include "apiserver/storage/watch_hub.h"

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "common/strings.h"

namespace berth::storage {

namespace {
// Events handed to one callback invocation at most; keeps one watcher from monopolising the
// delivery thread when it is far behind.
constexpr size_t kMaxDeliveryBatch = 1000;

// What an event in the ring holds on to: its keys and values and the event itself.
size_t eventBytes(const Event& ev) {
  size_t n = sizeof(Event) + ev.kv.key.size() + ev.kv.value.size();
  if (ev.prev) n += ev.prev->key.size() + ev.prev->value.size();
  return n;
}
}  // namespace

struct WatchHub::Watcher {
  std::string prefix;
  WatchCallback callback;
  int64_t after = 0;  // only events with revision > after are queued
  std::deque<EventPtr> queue;
  std::optional<Status> final_status;  // delivered once the queue is drained
  bool replaying = false;              // history read in progress: hold delivery
  bool in_ready = false;
  bool running = false;
  bool cancelled = false;
  bool done = false;
};

class WatchHub::Handle : public Watch {
 public:
  Handle(std::shared_ptr<WatchHub> hub, std::shared_ptr<Watcher> w)
      : hub_(std::move(hub)), w_(std::move(w)) {}
  ~Handle() override { cancel(); }
  void cancel() override { hub_->cancel(w_); }

 private:
  std::shared_ptr<WatchHub> hub_;
  std::shared_ptr<Watcher> w_;
};

WatchHub::WatchHub(int64_t published_revision, size_t ring_size, size_t queue_limit,
                   size_t ring_bytes)
    : ring_size_(ring_size),
      queue_limit_(std::max<size_t>(queue_limit, 1)),
      ring_bytes_limit_(ring_bytes),
      ring_base_(published_revision),
      published_(published_revision) {
  thread_ = std::thread([this] { run(); });
}

WatchHub::~WatchHub() {
  close(Status(Code::kUnavailable, "store closed"));
}

int64_t WatchHub::publishedRevision() {
  std::lock_guard<std::mutex> lk(mu_);
  return published_;
}

void WatchHub::enqueueLocked(const std::shared_ptr<Watcher>& w) {
  if (w->in_ready || w->replaying || w->cancelled || w->done) return;
  if (w->queue.empty() && !w->final_status) return;
  w->in_ready = true;
  ready_.push_back(w);
  ready_cv_.notify_one();
}

void WatchHub::finishLocked(const std::shared_ptr<Watcher>& w, const Status& status) {
  if (!w->final_status) w->final_status = status;
}

void WatchHub::publish(std::vector<Event> events, int64_t up_to_revision) {
  std::lock_guard<std::mutex> lk(mu_);
  for (Event& e : events) {
    auto ep = std::make_shared<const Event>(std::move(e));
    const int64_t rev = ep->kv.mod_revision;
    for (const auto& w : watchers_) {
      if (w->final_status || rev <= w->after || !startsWith(ep->kv.key, w->prefix)) continue;
      if (w->queue.size() >= queue_limit_) {
        w->queue.clear();
        finishLocked(w, expired("watcher fell too far behind; re-list and watch again"));
        BLOG_WARN("watch dropped: queue full").kv("prefix", w->prefix).kv("revision", rev);
        continue;
      }
      w->queue.push_back(ep);
    }
    if (ring_size_ > 0) {
      ring_bytes_ += eventBytes(*ep);
      ring_.push_back(std::move(ep));
      while (ring_.size() > ring_size_ || (ring_bytes_ > ring_bytes_limit_ && ring_.size() > 1)) {
        ring_base_ = ring_.front()->kv.mod_revision;
        ring_bytes_ -= eventBytes(*ring_.front());
        ring_.pop_front();
      }
    } else {
      ring_base_ = rev;
    }
    published_ = std::max(published_, rev);
  }
  if (up_to_revision > published_) {
    published_ = up_to_revision;
    if (ring_.empty()) ring_base_ = published_;
  }
  for (const auto& w : watchers_) enqueueLocked(w);
}

Result<std::unique_ptr<Watch>> WatchHub::watch(const std::string& prefix, int64_t after_revision,
                                               int64_t compacted_revision, WatchCallback callback,
                                               const HistoryReader& history) {
  auto w = std::make_shared<Watcher>();
  w->prefix = prefix;
  w->callback = std::move(callback);
  w->after = after_revision;
  std::unique_ptr<Watch> handle = std::make_unique<Handle>(shared_from_this(), w);

  int64_t history_to = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (closing_) return Status(Code::kUnavailable, "store closed");
    watchers_.push_back(w);
    if (after_revision < compacted_revision) {
      finishLocked(w, expired("required revision " + std::to_string(after_revision + 1) +
                              " has been compacted (compacted revision " +
                              std::to_string(compacted_revision) + ")"));
      enqueueLocked(w);
      return handle;
    }
    // The ring holds every event > ring_base_; older ones come from history.
    for (const auto& ep : ring_) {
      if (ep->kv.mod_revision > after_revision && startsWith(ep->kv.key, prefix)) {
        w->queue.push_back(ep);
      }
    }
    if (after_revision >= ring_base_) {
      enqueueLocked(w);
      return handle;
    }
    history_to = ring_base_;
    w->replaying = true;
  }

  // Live events queue up behind the replay while the history is read without the lock.
  Result<std::vector<Event>> old = history(prefix, after_revision, history_to);
  std::lock_guard<std::mutex> lk(mu_);
  w->replaying = false;
  if (!old.isOk()) {
    w->queue.clear();
    finishLocked(w, old.status());
  } else {
    std::vector<Event>& evs = old.value();
    for (auto it = evs.rbegin(); it != evs.rend(); ++it) {
      w->queue.push_front(std::make_shared<const Event>(std::move(*it)));
    }
  }
  enqueueLocked(w);
  return handle;
}

void WatchHub::cancel(const std::shared_ptr<Watcher>& w) {
  std::unique_lock<std::mutex> lk(mu_);
  w->cancelled = true;
  w->queue.clear();
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
  if (std::this_thread::get_id() == delivery_id_) return;  // cancel from inside a callback
  idle_cv_.wait(lk, [&] { return !w->running; });
}

void WatchHub::run() {
  std::unique_lock<std::mutex> lk(mu_);
  delivery_id_ = std::this_thread::get_id();
  for (;;) {
    ready_cv_.wait(lk, [&] { return !ready_.empty() || closing_; });
    if (ready_.empty()) break;  // closing and drained
    std::shared_ptr<Watcher> w = std::move(ready_.front());
    ready_.pop_front();
    w->in_ready = false;
    if (w->cancelled || w->done || w->replaying) continue;

    std::vector<Event> events;
    Status status;
    if (!w->queue.empty()) {
      size_t n = std::min(w->queue.size(), kMaxDeliveryBatch);
      events.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        events.push_back(*w->queue.front());
        w->queue.pop_front();
      }
    } else if (w->final_status) {
      status = *w->final_status;
      w->done = true;
    } else {
      continue;
    }
    w->running = true;
    lk.unlock();
    w->callback(events, status);
    lk.lock();
    w->running = false;
    idle_cv_.notify_all();
    if (w->done) {
      watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
    } else {
      enqueueLocked(w);
    }
  }
}

void WatchHub::close(const Status& status) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!closing_) {
      closing_ = true;
      for (const auto& w : watchers_) {
        finishLocked(w, status);
        enqueueLocked(w);
      }
    }
    ready_cv_.notify_all();
  }
  if (thread_.joinable()) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      thread_.detach();  // closed from inside a callback; the loop ends on its own
    } else {
      thread_.join();
    }
  }
}

}  // namespace berth::storage
