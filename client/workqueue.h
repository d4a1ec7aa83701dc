// WorkQueue: client-go's rate-limited work queue. A key added several times before a worker
// takes it is handed out once (dirty set); a key being worked on (processing set) is not handed
// to another worker: if added meanwhile, it is queued again when done() is called. Delayed adds
// wait on a TimerQueue (one timer per key, the earliest deadline wins). addRateLimited delays by
// the larger of a per-item exponential backoff and a global token bucket; retry() does the same
// until a key has been retried max_retries times, then forgets it.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/timer_queue.h"

namespace berth::client {

// Per-item exponential backoff (base * 2^failures, capped) combined with a token bucket
// (qps, burst) shared by all items, as client-go's DefaultControllerRateLimiter.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds base_delay{5};
    std::chrono::milliseconds max_delay{1000 * 1000};
    double qps = 10;   // <= 0: no token bucket
    int burst = 100;
    std::function<Clock::time_point()> now;  // fake clock for tests; default steady_clock
  };
  explicit RateLimiter(Options opts);
  RateLimiter() : RateLimiter(Options()) {}
  // Records a failure of `key` and returns how long to wait before retrying it.
  std::chrono::milliseconds when(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

 private:
  Options opts_;
  mutable std::mutex mu_;
  std::map<std::string, int> failures_;
  double tokens_;
  Clock::time_point last_;
};

class WorkQueue {
 public:
  struct Options {
    std::string name = "queue";
    RateLimiter::Options limiter;
    int max_retries = 15;
  };
  explicit WorkQueue(Options opts);
  WorkQueue() : WorkQueue(Options()) {}
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void addAfter(const std::string& key, std::chrono::milliseconds delay);
  void addRateLimited(const std::string& key);
  // addRateLimited while numRequeues(key) < max_retries; else forgets the key, returns false.
  bool retry(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

  // Blocks for the next key; false once shut down (and drained of nothing: pending keys are
  // dropped). The caller must call done(key) when finished with it.
  bool get(std::string* key);
  void done(const std::string& key);
  void shutDown();
  bool shuttingDown() const;
  size_t len() const;  // keys ready to hand out
  size_t waiting() const;  // delayed keys not yet due

 private:
  Options opts_;
  RateLimiter limiter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;
  std::set<std::string> processing_;
  // Delayed keys: deadline and timer id.
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, uint64_t>> delayed_;
  bool shutting_down_ = false;
  std::unique_ptr<TimerQueue> timers_;
};

}  // namespace berth::client
