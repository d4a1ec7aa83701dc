// DisruptionController: the status of each PodDisruptionBudget, as upstream's
// pkg/controller/disruption.
//
// reconcile("ns/name") reads the PDB and the pods its selector matches from the cache and
// writes status (PUT /status, only when it changes):
//   - expectedPods: with maxUnavailable or a percentage minAvailable, the sum of the scales of
//     the pods' controllers (a ReplicaSet's spec.replicas, or its Deployment's; a StatefulSet's
//     spec.replicas); pods without a controller are left out and reported by an UnmanagedPods
//     warning event; a controller without a scale (a Job, a DaemonSet, one that is gone) fails
//     the computation (CalculateExpectedPodCountFailed event, SyncFailed condition); with an
//     integer minAvailable, the number of matching pods;
//   - desiredHealthy: minAvailable (a percentage of expectedPods rounded up), or
//     expectedPods - maxUnavailable (a percentage rounded up), never below 0;
//   - currentHealthy: matching pods that are Ready, not being deleted and not in disruptedPods;
//   - disruptionsAllowed: currentHealthy - desiredHealthy, and 0 when that is negative or no
//     pod is expected;
//   - disruptedPods: the eviction API's entries for pods whose deletion has not been seen yet;
//     one older than two minutes is dropped (the pod was not deleted after all) and the key is
//     requeued for when the next one would expire;
//   - observedGeneration and the DisruptionAllowed condition (SufficientPods /
//     InsufficientPods, or SyncFailed when the expected count cannot be computed).
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"

namespace berth::client {
class EventRecorder;
}  // namespace berth::client

namespace berth::controllers {

const client::Resource& pdbsResource();

// An IntOrString (5 or "50%") scaled against `total`; percentages rounded up or down.
Result<int64_t> scaledValue(const json& v, int64_t total, bool round_up);

struct PdbCounts {
  int64_t expected = 0;
  int64_t desired_healthy = 0;
  int64_t current_healthy = 0;
  int64_t allowed = 0;
  json disrupted_pods = json::object();
  std::chrono::milliseconds recheck{0};  // > 0: look again after this long
  // Matching pods without a controller, left out of a scale-based expectedPods.
  std::vector<std::string> unmanaged_pods;
};

// The scale of the controller a controllerRef points at (ns is the pod's namespace); kNotFound
// when there is no such controller.
using ScaleFinder = std::function<Result<int64_t>(const json& controller_ref, const std::string& ns)>;

// Upstream's getExpectedPodCount + countHealthyPods + buildDisruptedPodMap.
Result<PdbCounts> computePdbCounts(const json& pdb, const std::vector<client::ObjectPtr>& pods,
                                   const ScaleFinder& scale_of, TimePoint now);
// The status `pdb` should have given `counts` (or `err` when they could not be computed),
// keeping lastTransitionTime when the condition does not change.
json pdbStatus(const json& pdb, const Result<PdbCounts>& counts, TimePoint now);
// A label selector as Go's %v prints it in upstream's events: &LabelSelector{MatchLabels:...}.
std::string labelSelectorText(const json& selector);

class DisruptionController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    const Clock* clock = nullptr;  // default SystemClock
    client::EventRecorder* recorder = nullptr;  // UnmanagedPods, CalculateExpectedPodCountFailed
  };
  DisruptionController(client::Client* client, client::InformerFactory* informers, Config config);
  ~DisruptionController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

 private:
  void enqueueFor(const json& pod);
  void enqueueNamespace(const std::string& ns);
  Result<int64_t> scaleOf(const json& ref, const std::string& ns);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* pdbs_;
  client::Informer* pods_;
  client::Informer* rss_;
  client::Informer* deployments_;
  client::Informer* statefulsets_;
  client::Informer* rcs_;  // ReplicationControllers
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
