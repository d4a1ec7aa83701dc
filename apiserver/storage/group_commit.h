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
// (followers read it after they wake, through the slot's mutex). Ops of submit() stay owned by
// their submitters: the leader touches an op only until it marks it done.
//
// submitAsync() queues an op without waiting: whichever thread processes its batch then runs
// the op's `done` callback (an API request answers its client from there, so no thread
// sleeps across the fsync and no follower has to be woken). A thread that submitted
// asynchronously and leads goes on leading while the next op in the queue is asynchronous
// too; a blocking submitter whose batch is followed by asynchronous ops hands the lead to the
// class's own helper thread (started on first need) instead, so it returns at once.
//
// Thread-safety: submit(), submitAsync() and close() may be called from any thread; `process`
// runs on one thread at a time (the current leader); `done` callbacks must not submit.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
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
  ~GroupCommit() {
    close();
    {
      std::lock_guard<std::mutex> lk(helper_mu_);
      helper_stop_ = true;
    }
    helper_cv_.notify_one();
    if (helper_.joinable()) helper_.join();
  }

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
    lead(slot.get(), false);
    return true;
  }

  // Queues `op` and returns without waiting (processing it here when the queue was empty);
  // `done(op)` runs once on the thread that processed the op's batch, after `process`.
  // Returns false, without calling `done`, once close() has begun.
  bool submitAsync(std::unique_ptr<Op> op, std::function<void(Op&)> done) {
    auto slot = std::make_shared<Slot>();
    slot->op = op.get();
    slot->owned = std::move(op);
    slot->done = std::move(done);
    bool leads = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (closing_) return false;
      queue_.push_back(slot);
      leads = queue_.size() == 1;
    }
    if (leads) lead(nullptr, true);
    return true;
  }

  // Refuses new submissions and waits until every queued op was processed.
  void close() {
    std::unique_lock<std::mutex> lk(mu_);
    closing_ = true;
    drained_cv_.wait(lk, [&] { return queue_.empty() && completing_ == 0; });
  }

  // Ops processed so far and `process` calls made (for tests and metrics).
  size_t processedOps() const { return ops_.load(std::memory_order_relaxed); }
  size_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  enum : int { kQueued = 0, kLead = 1, kDone = 2 };
  struct Slot {
    Op* op = nullptr;
    std::unique_ptr<Op> owned;         // submitAsync's op
    std::function<void(Op&)> done;     // set for submitAsync's op
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

  // Called by the thread that leads the front of the queue (`own` is its blocking slot, if
  // any, which it must not signal). Leads batch after batch while the next front is an
  // asynchronous op and `async_thread` says this thread may keep leading.
  void lead(Slot* own, bool async_thread) {
    for (;;) {
      std::vector<std::shared_ptr<Slot>> batch;
      std::vector<Op*> ops;
      {
        // The batch stays at the front while it is processed, so later arrivals queue behind.
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
        ++completing_;
      }
      // Wake outside the queue's lock. The slots are shared, so a follower that sees kDone
      // and returns before its notify leaves nothing dangling.
      for (const auto& s : batch) {
        if (s->done) s->done(*s->op);
        else if (s.get() != own) signal(*s, kDone);
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        --completing_;
        if (queue_.empty() && completing_ == 0) drained_cv_.notify_all();
      }
      if (!next) return;
      if (!next->done) return signal(*next, kLead);
      if (!async_thread) return wakeHelper();
      own = nullptr;
    }
  }

  void wakeHelper() {
    {
      std::lock_guard<std::mutex> lk(helper_mu_);
      helper_pending_ = true;
      if (!helper_.joinable()) helper_ = std::thread([this] { helperLoop(); });
    }
    helper_cv_.notify_one();
  }

  void helperLoop() {
    std::unique_lock<std::mutex> lk(helper_mu_);
    for (;;) {
      helper_cv_.wait(lk, [&] { return helper_pending_ || helper_stop_; });
      if (!helper_pending_) return;
      helper_pending_ = false;
      lk.unlock();
      lead(nullptr, true);
      lk.lock();
    }
  }

  const size_t max_batch_;
  const Process process_;
  std::mutex mu_;
  std::condition_variable drained_cv_;
  std::deque<std::shared_ptr<Slot>> queue_;
  bool closing_ = false;
  int completing_ = 0;  // leaders between taking a batch off the queue and completing it
  std::atomic<size_t> ops_{0};
  std::atomic<size_t> batches_{0};
  std::mutex helper_mu_;
  std::condition_variable helper_cv_;
  bool helper_pending_ = false;  // the helper is to lead the front of the queue
  bool helper_stop_ = false;
  std::thread helper_;  // started on the first hand-off to it
};

}  // namespace berth::storage
