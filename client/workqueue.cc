#include "client/workqueue.h"

#include <algorithm>
#include <cmath>

namespace berth::client {

RateLimiter::RateLimiter(Options opts) : opts_(std::move(opts)) {
  if (!opts_.now) opts_.now = [] { return Clock::now(); };
  tokens_ = opts_.burst;
  last_ = opts_.now();
}

std::chrono::milliseconds RateLimiter::when(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  int n = failures_[key]++;
  double item_ms = static_cast<double>(opts_.base_delay.count()) * std::pow(2.0, std::min(n, 62));
  item_ms = std::min(item_ms, static_cast<double>(opts_.max_delay.count()));
  double bucket_ms = 0;
  if (opts_.qps > 0) {
    auto now = opts_.now();
    double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min<double>(opts_.burst, tokens_ + elapsed * opts_.qps);
    tokens_ -= 1;
    if (tokens_ < 0) bucket_ms = -tokens_ / opts_.qps * 1000.0;
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(item_ms, bucket_ms)));
}

void RateLimiter::forget(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  failures_.erase(key);
}

int RateLimiter::numRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::WorkQueue(Options opts)
    : opts_(std::move(opts)), limiter_(opts_.limiter), timers_(std::make_unique<TimerQueue>()) {}

WorkQueue::~WorkQueue() {
  shutDown();
  // Joins the timer thread: no callback can touch this queue afterwards.
  timers_->stop();
}

void WorkQueue::add(const std::string& key) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shutting_down_ || dirty_.count(key)) return;
    dirty_.insert(key);
    if (processing_.count(key)) return;  // queued again by done()
    queue_.push_back(key);
  }
  cv_.notify_one();
}

void WorkQueue::addAfter(const std::string& key, std::chrono::milliseconds delay) {
  if (delay.count() <= 0) return add(key);
  std::lock_guard<std::mutex> l(mu_);
  if (shutting_down_) return;
  auto deadline = std::chrono::steady_clock::now() + delay;
  auto it = delayed_.find(key);
  if (it != delayed_.end()) {
    if (it->second.first <= deadline) return;  // an earlier wake-up is already set
    timers_->cancel(it->second.second);
  }
  uint64_t id = timers_->scheduleAfter(delay, [this, key] {
    {
      std::lock_guard<std::mutex> l2(mu_);
      delayed_.erase(key);
    }
    add(key);
  });
  delayed_[key] = {deadline, id};
}

void WorkQueue::addRateLimited(const std::string& key) { addAfter(key, limiter_.when(key)); }

bool WorkQueue::retry(const std::string& key) {
  if (limiter_.numRequeues(key) >= opts_.max_retries) {
    limiter_.forget(key);
    return false;
  }
  addRateLimited(key);
  return true;
}

void WorkQueue::forget(const std::string& key) { limiter_.forget(key); }

int WorkQueue::numRequeues(const std::string& key) const { return limiter_.numRequeues(key); }

bool WorkQueue::get(std::string* key) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return !queue_.empty() || shutting_down_; });
  if (shutting_down_) return false;
  *key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(*key);
  dirty_.erase(*key);
  return true;
}

void WorkQueue::done(const std::string& key) {
  {
    std::lock_guard<std::mutex> l(mu_);
    processing_.erase(key);
    if (!dirty_.count(key) || shutting_down_) return;
    queue_.push_back(key);
  }
  cv_.notify_one();
}

void WorkQueue::shutDown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    for (const auto& [k, d] : delayed_) timers_->cancel(d.second);
    delayed_.clear();
  }
  cv_.notify_all();
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard<std::mutex> l(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

size_t WorkQueue::waiting() const {
  std::lock_guard<std::mutex> l(mu_);
  return delayed_.size();
}

}  // namespace berth::client
