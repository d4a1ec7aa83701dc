// TaintEvictionController: deletes pods from nodes with NoExecute taints they do not tolerate,
// as upstream's taint eviction controller (formerly the taint manager).
//
// reconcile(pod key) reads the pod and its node from the cache. A NoExecute taint the pod does
// not tolerate: the pod is deleted now. All tolerated, some only for tolerationSeconds: the pod
// is deleted once the shortest of them has run out, counted from the taint's timeAdded (or from
// when this controller first saw the taint, if it has none); until then the key is requeued for
// exactly the time left (a timer, not a poll). A taint removed meanwhile means the requeued
// look finds nothing to do. Deletions are rate limited per zone (topology.kubernetes.io/zone)
// by a token bucket so a failing zone does not empty itself at once.
// Thread-safety: reconcile() may run on several workers at once; shared maps are behind a mutex.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"

namespace berth::client {
class EventRecorder;
}

namespace berth::controllers {

// One toleration against one taint: upstream's Toleration.ToleratesTaint. (workload_util.h's
// toleratesTaint asks the same of a whole tolerations list.)
bool tolerationMatches(const json& toleration, const json& taint);

// When a pod with `tolerations` must leave a node with `taints` (only NoExecute ones count).
// `taint_start` gives the moment each taint started counting. nullopt: never.
std::optional<TimePoint> evictionDeadline(
    const json& tolerations, const json& taints,
    const std::function<TimePoint(const json& taint)>& taint_start);

// A token bucket on an injected clock: `qps` tokens a second, at most `burst` saved up.
class TokenBucket {
 public:
  TokenBucket(double qps, int burst, TimePoint now) : qps_(qps), burst_(burst), tokens_(burst), last_(now) {}
  // Takes a token and returns 0, or returns how long until one is available.
  std::chrono::milliseconds take(TimePoint now);

 private:
  double qps_;
  int burst_;
  double tokens_;
  TimePoint last_;
};

class TaintEvictionController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    double zone_qps = 5;  // deletions per second per zone
    int zone_burst = 20;
    const Clock* clock = nullptr;  // default SystemClock
    // Records TaintManagerEviction on each pod it deletes, as upstream does. Optional.
    client::EventRecorder* recorder = nullptr;
  };
  TaintEvictionController(client::Client* client, client::InformerFactory* informers, Config config);
  ~TaintEvictionController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& pod_key);
  Controller& controller() { return *controller_; }

 private:
  void enqueuePodsOn(const std::string& node);
  TimePoint taintStart(const std::string& node, const json& taint, TimePoint now);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* nodes_;
  client::Informer* pods_;
  std::mutex mu_;
  std::map<std::string, TokenBucket> zones_;
  // node "/" taint key "/" effect -> first seen, for taints without timeAdded.
  std::map<std::string, TimePoint> first_seen_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
