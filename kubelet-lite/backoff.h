// CrashBackoff: upstream kubelet's container restart back-off. The first restart of a container
// is immediate; each further one waits 10 s, doubling up to 5 min, counted from when the
// container last finished. A container that ran for 10 min resets its back-off.
// Keys are "<pod uid>/<container>". Time is passed in, so tests drive it with a fake clock.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "common/time_util.h"

namespace berth::kubelet {

class CrashBackoff {
 public:
  struct Options {
    std::chrono::seconds initial{10};
    std::chrono::seconds max{300};
    std::chrono::seconds reset_after_running{600};
  };
  CrashBackoff() : CrashBackoff(Options()) {}
  explicit CrashBackoff(Options o) : opts_(o) {}

  // True while a container that finished at `finished_at` must not be restarted yet; sets
  // `until` to when it may.
  bool inBackoff(const std::string& key, TimePoint finished_at, TimePoint now,
                 TimePoint* until) const;
  // Records a restart at `now` of a container that ran from `started_at` to `finished_at`,
  // growing the delay for the next one.
  void recordRestart(const std::string& key, TimePoint started_at, TimePoint finished_at,
                     TimePoint now);
  // The delay the next restart will wait (for messages: "back-off 20s restarting ...").
  std::chrono::seconds currentDelay(const std::string& key) const;
  // Drops every key starting with `prefix` (a pod's uid) when the pod is gone.
  void forgetPrefix(const std::string& prefix);

 private:
  Options opts_;
  mutable std::mutex mu_;
  std::map<std::string, std::chrono::seconds> delay_;
};

}  // namespace berth::kubelet
