// PodGCController: deletes pods that no kubelet will ever finish, as upstream's pod garbage
// collector (pkg/controller/podgc) does:
//  * orphaned pods: bound (spec.nodeName) to a node that no longer exists. A pod is first held
//    in quarantine (40 s by default) from when this controller noticed its node missing, then
//    the node's absence is confirmed with a direct read, not the cache; the pod gets the
//    DisruptionTarget condition (reason DeletionByPodGC; a pod still running is marked Failed)
//    and is deleted at once (grace period 0, uid precondition);
//  * unscheduled terminating pods: being deleted and bound to no node, deleted at once.
// Not built: upstream's terminated-pod threshold (12,500 finished pods kept) and the
// out-of-service taint path.
// reconcile(pod key) reads the pod and its node from the cache; the quarantine is a timer
// (requeue after the time left), not a poll.
// Thread-safety: reconcile() may run on several workers at once; the quarantine map is behind a
// mutex.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"

namespace berth::controllers {

class PodGCController {
 public:
  struct Config {
    int workers = 1;
    client::WorkQueue::Options queue;
    std::chrono::milliseconds quarantine{40000};  // upstream's quarantineTime
    const Clock* clock = nullptr;                  // default SystemClock
  };
  PodGCController(client::Client* client, client::InformerFactory* informers, Config config);
  ~PodGCController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& pod_key);
  Controller& controller() { return *controller_; }

 private:
  ReconcileResult forceDelete(const json& pod);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* nodes_;
  client::Informer* pods_;
  std::mutex mu_;
  std::map<std::string, TimePoint> missing_since_;  // pod key -> when its node was seen missing
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
