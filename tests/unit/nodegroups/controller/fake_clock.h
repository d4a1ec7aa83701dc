// A clock tests move by hand. Thread-safe (the controller reads it from workers).
#pragma once

#include <atomic>
#include <chrono>

#include "common/time_util.h"

namespace berth::nodegroups::testing {

class FakeClock : public Clock {
 public:
  FakeClock() : now_(std::chrono::system_clock::from_time_t(1800000000)) {}
  TimePoint now() const override { return now_.load(); }
  void advance(std::chrono::milliseconds d) { now_.store(now_.load() + d); }

 private:
  std::atomic<TimePoint> now_;
};

}  // namespace berth::nodegroups::testing
