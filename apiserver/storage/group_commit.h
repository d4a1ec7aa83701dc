// GroupCommit: leader/follower batching of blocking submissions (as leveldb's writer queue).
//
// A submitter appends its op to the queue and waits. The op at the front is the leader: it
// takes everything queued at that moment (at most `max_batch`), runs `process` on the batch on
// its own thread, completes the followers and hands leadership to the next front. A lone
// submitter processes its op on its own thread without any hand-off; concurrent submitters
// share one `process` call (for the store: one transaction and one fsync).
//
// The hand-offs are cheap: a follower sleeps on its own slot (its own mutex and condition
// variable), not on the queue's mutex, and the leader wakes it after releasing the queue's
// mutex, so a woken follower returns at once instead of waking into a contended lock. The
// queue's mutex is held only to append, to take a batch and to remove it.
//
// `process` sees each op of the batch exactly once and must store its outcome in the op
// (followers read it after they wake, through the slot's mutex). Ops stay owned by
// their submitters: the leader touches an op only until it marks it done.
//
// Thread-safety: submit() and close() may be called from any thread; `process` runs on one
// thread at a time (the current leader).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace berth::storage {

template <typename Op>
class GroupCommit {
 public:
  using Process = std::function<void(const std::vector<Op*>& batch)>;

  GroupCommit(size_t max_batch, Process process)
      : max_batch_(std::max<size_t>(1, max_batch)), process_(std::move(process)) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Blocks until `op` was processed (by this thread or by another submitter's) and returns
  // true; returns false without processing it once close() has begun.
  bool submit(Op& op) {
    auto slot = std::make_shared<Slot>();
    slot->op = &op;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closing_) return false;
      queue_.push_back(slot);
      if (queue_.size() == 1) slot->state = kLead;
    }
    {
      std::unique_lock<std::mutex> lk(slot->mu);
      slot->cv.wait(lk, [&] { return slot->state != kQueued; });
      if (slot->state == kDone) return true;
    }
    lead();
    return true;
  }

  // Refuses new submissions and waits until every queued op was processed.
  void close() {
    std::unique_lock<std::mutex> lk(mu_);
    closing_ = true;
    drained_cv_.wait(lk, [&] { return queue_.empty(); });
  }

  // Ops processed so far and `process` calls made (for tests and metrics).
  size_t processedOps() const { return ops_.load(std::memory_order_relaxed); }
  size_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  enum : int { kQueued = 0, kLead = 1, kDone = 2 };
  struct Slot {
    Op* op = nullptr;
    std::mutex mu;
    std::condition_variable cv;
    int state = kQueued;  // guarded by mu once queued (by the queue's mutex before)
  };

  static void signal(Slot& s, int state) {
    {
      std::lock_guard<std::mutex> lk(s.mu);
      s.state = state;
    }
    s.cv.notify_one();
  }

  // Called by the thread whose slot is at the front of the queue.
  void lead() {
    std::vector<std::shared_ptr<Slot>> batch;
    std::vector<Op*> ops;
    {
      // The batch stays at the front while it is processed, so later arrivals queue behind it.
      std::lock_guard<std::mutex> lk(mu_);
      size_t n = std::min(queue_.size(), max_batch_);
      batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    ops.reserve(batch.size());
    for (const auto& s : batch) ops.push_back(s->op);
    process_(ops);
    ops_.fetch_add(ops.size(), std::memory_order_relaxed);
    batches_.fetch_add(1, std::memory_order_relaxed);

    std::shared_ptr<Slot> next;
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
      if (!queue_.empty()) next = queue_.front();
      else drained_cv_.notify_all();
    }
    // Wake outside the queue's lock. The slots are shared, so a follower that sees kDone and
    // returns before its notify leaves nothing dangling. batch[0] is this thread's own slot.
    for (size_t i = 1; i < batch.size(); ++i) signal(*batch[i], kDone);
    if (next) signal(*next, kLead);
  }

  const size_t max_batch_;
  const Process process_;
  std::mutex mu_;
  std::condition_variable drained_cv_;
  std::deque<std::shared_ptr<Slot>> queue_;
  bool closing_ = false;
  std::atomic<size_t> ops_{0};
  std::atomic<size_t> batches_{0};
};

}  // namespace berth::storage
