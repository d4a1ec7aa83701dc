// Heartbeat: keeps many nodes alive from ONE thread (as kwok does): each node's Lease in
// kube-node-lease is renewed every `lease_period` and its Node status (conditions with
// heartbeat times) re-posted every `status_period`, each with a random jitter so a thousand
// nodes spread their writes evenly. Deadlines live in a heap; the thread sleeps on a condition
// variable until the next one (no polling). The last Lease written is kept so a renewal is one
// PUT; a conflict or a missing Lease falls back to GET/CREATE.
// Thread-safety: addNode/stop from any thread; all API calls happen on the heartbeat thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "common/time_util.h"

namespace berth::kubelet {

class Heartbeat {
 public:
  struct Options {
    std::chrono::milliseconds lease_period{10000};
    int lease_duration_seconds = 40;
    std::chrono::milliseconds status_period{60000};
    double jitter = 0.1;  // each period is stretched by up to this fraction, at random
  };
  // `status_patch(node)` returns the merge patch for nodes/<node>/status at this moment.
  using StatusPatchFn = std::function<nlohmann::json(const std::string& node)>;
  Heartbeat(client::Client* client, Options opts, StatusPatchFn status_patch);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Creates kube-node-lease if missing. Call once before start().
  Status ensureLeaseNamespace();
  // Registers a node (uid for the Lease's ownerReference); its first renewal is due at once.
  void addNode(const std::string& name, const std::string& uid);
  void start();
  void stop();

  // Renewals done so far (for benchmarks and logs).
  uint64_t renewals() const;

 private:
  enum class Kind { kLease, kStatus };
  struct Due {
    std::chrono::steady_clock::time_point at;
    std::string node;
    Kind kind;
    bool operator>(const Due& o) const { return at > o.at; }
  };
  void run();
  void renewLease(const std::string& node);
  void postStatus(const std::string& node);
  std::chrono::milliseconds jittered(std::chrono::milliseconds period);

  client::Client* client_;
  Options opts_;
  StatusPatchFn status_patch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
  std::map<std::string, std::string> uids_;
  std::map<std::string, nlohmann::json> leases_;  // heartbeat thread only
  std::mt19937 rng_{std::random_device{}()};
  bool stopping_ = false;
  uint64_t renewals_ = 0;
  std::thread thread_;
};

}  // namespace berth::kubelet
