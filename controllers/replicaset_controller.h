// ReplicaSetController: keeps spec.replicas pods running for each ReplicaSet, as upstream's
// pkg/controller/replicaset; with Config::replication_controllers, for each core/v1
// ReplicationController instead (upstream's pkg/controller/replication).
//
// Handlers only enqueue "ns/name" of ReplicaSets: a pod maps to its controlling ReplicaSet (or,
// when orphaned, to every ReplicaSet in its namespace whose selector matches it). reconcile(key)
// reads the ReplicaSet from the cache, claims pods (adopts matching orphans, releases owned
// pods that no longer match), and, only when its expectations are met, creates the missing
// pods (slow start: batches of 1, 2, 4, ...) or deletes the surplus (unscheduled, pending,
// not-ready, then newest first). Expectations record the creates/deletes issued and not yet
// seen by the pod informer, so a stale cache never makes it create twice. Status
// (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration) is
// written through PUT /status when it changes; while a ready pod waits out minReadySeconds the
// key is requeued for the remaining time.
// Thread-safety: reconcile() may run on several workers at once (different keys); the
// expectations are behind a mutex.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "client/event_recorder.h"
#include "controllers/controller.h"

namespace berth::controllers {

// Resources the workload controllers use (verbs as discovery reports them).
const client::Resource& podsResource();
const client::Resource& replicaSetsResource();
const client::Resource& replicationControllersResource();
const client::Resource& deploymentsResource();

// The controlling ownerReference of `obj`, or nullptr.
const json* controllerRefOf(const json& obj);
// Upstream's pod controller-uid index: an object is indexed under the uid of its controlling
// ownerReference, or, when it has none, under orphanIndexValue(its namespace). A controller
// reads its own pods plus the adoptable orphans from it, never the whole namespace.
extern const char kIndexControllerUid[];  // "controllerUid"
std::vector<std::string> controllerUidIndex(const json& obj);
std::string orphanIndexValue(const std::string& ns);
// A metav1.LabelSelector {matchLabels, matchExpressions} against a labels object. A null or
// missing selector matches nothing; an empty one everything (callers reject empty ones).
bool selectorMatches(const json& selector, const json& labels);
bool selectorEmpty(const json& selector);
// Pod Ready condition is True.
bool podReady(const json& pod);
// Ready for at least min_ready_seconds at `now`; sets *wait to the remaining time otherwise.
bool podAvailable(const json& pod, int min_ready_seconds, TimePoint now,
                  std::chrono::milliseconds* wait = nullptr);
bool isDeleting(const json& obj);

// Upstream's ControllerExpectations / UIDTrackingControllerExpectations, simplified: per key a
// count of creates not yet observed and the set of pod keys whose deletion is not yet observed.
// Expectations expire after `ttl` so a lost event cannot wedge a controller.
class Expectations {
 public:
  Expectations(const Clock* clock, std::chrono::seconds ttl) : clock_(clock), ttl_(ttl) {}
  bool satisfied(const std::string& key);
  void expectCreations(const std::string& key, int n);
  void expectDeletions(const std::string& key, const std::set<std::string>& pod_keys);
  void creationObserved(const std::string& key);
  void deletionObserved(const std::string& key, const std::string& pod_key);
  void forget(const std::string& key);

 private:
  struct Entry {
    int adds = 0;
    std::set<std::string> dels;
    TimePoint at;
  };
  const Clock* clock_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::string, Entry> items_;
};

class ReplicaSetController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    int burst_replicas = 500;  // most creates or deletes per sync, as upstream
    std::chrono::seconds expectations_ttl{300};
    const Clock* clock = nullptr;  // default SystemClock
    client::EventRecorder* recorder = nullptr;  // SuccessfulCreate/SuccessfulDelete events
    // Manage core/v1 ReplicationControllers instead (upstream's ReplicationManager is this
    // controller over them): the same sync, with the equality-only selector map read as
    // matchLabels and ownerReferences of kind ReplicationController.
    bool replication_controllers = false;
  };
  // Registers informers (pods, replicasets) and handlers with `informers` (before
  // informers->start()).
  ReplicaSetController(client::Client* client, client::InformerFactory* informers, Config config);
  ~ReplicaSetController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }
  Expectations& expectations() { return expectations_; }
  // The cached pods a sync of `rs` looks at: those it controls and the orphans (no controlling
  // ownerReference) of its namespace, read from the controller-uid index. Pods other
  // controllers own are never read, so one sync costs O(own pods + orphans), not O(pods in the
  // namespace) (upstream's FilterPodsByOwner).
  std::vector<client::ObjectPtr> candidatePods(const json& rs) const;

 private:
  void onPodAdd(const json& pod);
  void onPodUpdate(const json& old_pod, const json& pod);
  void onPodDelete(const json& pod);
  // The key of the cached ReplicaSet `ref` points at in `ns`, if its uid matches.
  std::string rsKeyFor(const std::string& ns, const json* ref) const;
  void enqueueMatching(const json& pod);
  // The owner's selector as a metav1.LabelSelector.
  json selectorOf(const json& rs) const;

  // The active pods `rs` controls, after adopting matching orphans and releasing owned pods
  // that no longer match (from candidatePods).
  std::vector<client::ObjectPtr> claimPods(const json& rs, Status* err);
  Status manageReplicas(const std::string& key, const json& rs,
                        const std::vector<client::ObjectPtr>& pods);
  Result<json> createPod(const json& rs);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  const client::Resource& owner_;  // replicasets or replicationcontrollers
  client::Informer* pods_;
  client::Informer* rss_;
  Expectations expectations_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
