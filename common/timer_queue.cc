#include "common/timer_queue.h"

namespace berth {

TimerQueue::TimerQueue() : thread_([this] { run(); }) {}

TimerQueue::~TimerQueue() { stop(); }

uint64_t TimerQueue::scheduleAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  auto when = Clock::now() + delay;
  timers_.emplace(when, std::make_pair(id, std::move(fn)));
  deadlines_[id] = when;
  cv_.notify_one();
  return id;
}

bool TimerQueue::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return false;
  auto range = timers_.equal_range(it->second);
  for (auto t = range.first; t != range.second; ++t) {
    if (t->second.first == id) {
      timers_.erase(t);
      break;
    }
  }
  deadlines_.erase(it);
  return true;
}

void TimerQueue::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void TimerQueue::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (timers_.empty()) {
      cv_.wait(lock);
      continue;
    }
    auto first = timers_.begin();
    if (first->first > Clock::now()) {
      // Copy the deadline: cancel() may erase the node while we wait.
      const auto when = first->first;
      cv_.wait_until(lock, when);
      continue;
    }
    auto fn = std::move(first->second.second);
    deadlines_.erase(first->second.first);
    timers_.erase(first);
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace berth
