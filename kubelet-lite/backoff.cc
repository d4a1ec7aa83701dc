#include "kubelet-lite/backoff.h"

#include <algorithm>

namespace berth::kubelet {

bool CrashBackoff::inBackoff(const std::string& key, TimePoint finished_at, TimePoint now,
                             TimePoint* until) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = delay_.find(key);
  if (it == delay_.end()) return false;
  *until = finished_at + it->second;
  return now < *until;
}

void CrashBackoff::recordRestart(const std::string& key, TimePoint started_at,
                                 TimePoint finished_at, TimePoint now) {
  std::lock_guard<std::mutex> l(mu_);
  (void)now;
  auto it = delay_.find(key);
  bool ran_long = finished_at - started_at >= opts_.reset_after_running;
  if (it == delay_.end() || ran_long) {
    // The restart happening now is immediate; the one after waits `initial`.
    delay_[key] = opts_.initial;
    return;
  }
  it->second = std::min(opts_.max, it->second * 2);
}

std::chrono::seconds CrashBackoff::currentDelay(const std::string& key) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = delay_.find(key);
  return it == delay_.end() ? std::chrono::seconds(0) : it->second;
}

void CrashBackoff::forgetPrefix(const std::string& prefix) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto it = delay_.lower_bound(prefix); it != delay_.end() && it->first.rfind(prefix, 0) == 0;)
    it = delay_.erase(it);
}

}  // namespace berth::kubelet
