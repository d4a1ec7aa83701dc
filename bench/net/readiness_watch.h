// ReadinessWatch: the API server's view of endpoint readiness, through two watches on one
// namespace: EndpointSlices of one Service (an address counts as ready while it is listed with
// conditions.ready unset or true) and Pods (condition Ready). For each pod IP it records every
// change of either view with the time the event was read.
// Thread-safety: start/stop from one thread; waitFor from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"

namespace berth::bench::net {

class ReadinessWatch {
 public:
  using Clock = std::chrono::steady_clock;
  enum class View { kSlice, kPod };
  ReadinessWatch(client::Client* client, std::string ns, std::string service)
      : client_(client), ns_(std::move(ns)), service_(std::move(service)) {}
  ~ReadinessWatch() { stop(); }

  void start();
  void stop();
  // The time the view first showed `ip` as `ready` after `after`; nullopt at the timeout.
  std::optional<Clock::time_point> waitFor(View view, const std::string& ip, bool ready,
                                           Clock::time_point after, std::chrono::milliseconds timeout);

 private:
  struct Change {
    Clock::time_point at;
    bool ready;
  };
  void record(View view, const std::map<std::string, bool>& now, Clock::time_point at);
  void watchLoop(View view);

  client::Client* client_;
  std::string ns_, service_;
  client::CancelToken cancel_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::map<std::string, bool>> slices_;      // guarded: slice -> ip -> ready
  std::map<std::string, bool> slice_state_, pod_state_;            // guarded: ip -> ready
  std::map<std::string, std::vector<Change>> slice_changes_, pod_changes_;  // guarded
};

}  // namespace berth::bench::net
