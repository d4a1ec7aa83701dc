#include "controllers/scheduler/scheduling_queue.h"

#include <algorithm>

namespace berth::controllers::scheduler {

namespace {

client::WorkQueue::Options queueOptions() {
  client::WorkQueue::Options o;
  o.name = "scheduler";
  o.limiter.qps = 0;  // no global token bucket: pods are not rate limited, only backed off
  return o;
}

}  // namespace

SchedulingQueue::SchedulingQueue(Options opts) : opts_(std::move(opts)), queue_(queueOptions()) {
  if (!opts_.now) opts_.now = [] { return Clock::now(); };
}

void SchedulingQueue::add(const std::string& key) {
  {
    std::lock_guard<std::mutex> l(mu_);
    unschedulable_.erase(key);
  }
  queue_.add(key);
}

bool SchedulingQueue::pop(std::string* key, uint64_t* move_seq) {
  if (!queue_.get(key)) return false;
  std::lock_guard<std::mutex> l(mu_);
  *move_seq = move_seq_;
  return true;
}

void SchedulingQueue::done(const std::string& key) { queue_.done(key); }

std::chrono::milliseconds SchedulingQueue::backoffLeftLocked(const std::string& key,
                                                             Clock::time_point now) const {
  auto it = state_.find(key);
  if (it == state_.end() || it->second.attempts == 0) return std::chrono::milliseconds(0);
  auto d = opts_.initial_backoff;
  for (int i = 1; i < it->second.attempts && d < opts_.max_backoff; ++i) d *= 2;
  d = std::min(d, opts_.max_backoff);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      it->second.last_failure + d - now);
  return std::max(left, std::chrono::milliseconds(0));
}

void SchedulingQueue::activateLocked(const std::string& key, Clock::time_point now) {
  auto left = backoffLeftLocked(key, now);
  if (left.count() > 0) queue_.addAfter(key, left);
  else queue_.add(key);
}

void SchedulingQueue::markUnschedulable(const std::string& key, uint64_t move_seq) {
  std::lock_guard<std::mutex> l(mu_);
  auto now = opts_.now();
  auto& s = state_[key];
  ++s.attempts;
  s.last_failure = now;
  if (move_seq != move_seq_) {
    activateLocked(key, now);
    return;
  }
  unschedulable_[key] = now;
}

void SchedulingQueue::backoff(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  auto now = opts_.now();
  auto& s = state_[key];
  ++s.attempts;
  s.last_failure = now;
  unschedulable_.erase(key);
  activateLocked(key, now);
}

void SchedulingQueue::remove(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  state_.erase(key);
  unschedulable_.erase(key);
}

void SchedulingQueue::moveAllToActive() {
  std::lock_guard<std::mutex> l(mu_);
  ++move_seq_;
  auto now = opts_.now();
  for (const auto& [key, since] : unschedulable_) activateLocked(key, now);
  unschedulable_.clear();
}

void SchedulingQueue::flushUnschedulable() {
  std::lock_guard<std::mutex> l(mu_);
  auto now = opts_.now();
  for (auto it = unschedulable_.begin(); it != unschedulable_.end();) {
    if (now - it->second >= opts_.unschedulable_timeout) {
      activateLocked(it->first, now);
      it = unschedulable_.erase(it);
    } else {
      ++it;
    }
  }
}

void SchedulingQueue::shutDown() { queue_.shutDown(); }

size_t SchedulingQueue::numUnschedulable() const {
  std::lock_guard<std::mutex> l(mu_);
  return unschedulable_.size();
}

bool SchedulingQueue::isUnschedulable(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  return unschedulable_.count(key) > 0;
}

}  // namespace berth::controllers::scheduler
