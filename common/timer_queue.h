// TimerQueue: runs callbacks at deadlines on one thread (a heap plus a condition variable;
// no polling). Used for watch timeouts, bookmarks and controller requeues.
// Thread-safety: schedule/cancel from any thread; callbacks run on the queue's thread and
// must be short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace berth {

class TimerQueue {
 public:
  using Clock = std::chrono::steady_clock;
  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Returns an id for cancel().
  uint64_t scheduleAfter(std::chrono::milliseconds delay, std::function<void()> fn);
  // True if the timer was removed before it ran.
  bool cancel(uint64_t id);
  void stop();

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::pair<uint64_t, std::function<void()>>> timers_;
  std::map<uint64_t, Clock::time_point> deadlines_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace berth
