// DeploymentController: rolls Deployments out through ReplicaSets, as upstream's
// pkg/controller/deployment.
//
// Handlers only enqueue "ns/name" of Deployments: a ReplicaSet maps to its controlling
// Deployment (an orphan to every Deployment in its namespace whose selector matches it), a
// deleted pod to its ReplicaSet's Deployment (Recreate waits for old pods to go).
// reconcile(key) reads the Deployment from the cache and:
//  - claims its ReplicaSets (controller ownerReference uid; matching orphans are adopted);
//  - finds the new ReplicaSet: the oldest whose template, minus the pod-template-hash label,
//    equals the Deployment's; when there is none (and the rollout may proceed) creates
//    `<deploy>-<hash>` whose selector and template labels gain pod-template-hash=<hash>
//    (FNV-1a of the template's canonical JSON, safe-encoded as upstream); the new ReplicaSet's
//    revision annotation is max(old revisions)+1, so a rollback (`rollout undo`) raises the
//    reused ReplicaSet's revision; the revision is copied onto the Deployment;
//  - a change of spec.replicas (seen as active ReplicaSets whose desired-replicas annotation
//    differs) or a paused Deployment: no rollout step, only resizing; with one active
//    ReplicaSet it takes spec.replicas, during a rolling update each active one gets its
//    proportional share of replicas+maxSurge, as upstream;
//  - Recreate: scales old ReplicaSets to 0, waits until their pods are gone, then creates or
//    scales up the new one;
//  - RollingUpdate: scales the new ReplicaSet up within replicas+maxSurge, old ones down while
//    at least replicas-maxUnavailable stay available (ReplicaSet status availableReplicas);
//  - once complete, deletes old ReplicaSets at 0 replicas beyond revisionHistoryLimit;
//  - writes status (replicas, updated/ready/available/unavailableReplicas, observedGeneration,
//    conditions Available and Progressing with lastUpdateTime/lastTransitionTime) through
//    PUT /status, and requeues for the progress deadline.
// Each reconcile takes one step and returns; the informer events caused by its writes bring the
// key back. Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "client/event_recorder.h"
#include "controllers/controller.h"

namespace berth::controllers {

extern const char kPodTemplateHashLabel[];   // "pod-template-hash"
extern const char kRevisionAnnotation[];     // "deployment.kubernetes.io/revision"
extern const char kDesiredReplicasAnnotation[];
extern const char kMaxReplicasAnnotation[];

class DeploymentController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    const Clock* clock = nullptr;  // default SystemClock
    client::EventRecorder* recorder = nullptr;  // ScalingReplicaSet events
  };
  // Registers informers (deployments, replicasets, pods) and handlers with `informers`
  // (before informers->start()).
  DeploymentController(client::Client* client, client::InformerFactory* informers, Config config);
  ~DeploymentController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

  // The pod-template-hash of a pod template (with the Deployment's collisionCount, if any).
  static std::string podTemplateHash(const json& pod_template, std::optional<int64_t> collision_count);
  // maxSurge (rounded up) and maxUnavailable (rounded down) resolved against spec.replicas; both
  // 0 for Recreate; never both 0 for RollingUpdate (unavailable becomes 1), as upstream.
  static void resolveFenceposts(const json& deployment, int64_t* surge, int64_t* unavailable);

 private:
  // The state one reconcile works on: copies of the cached objects.
  struct Rollout {
    std::string key;
    json d;
    std::optional<json> new_rs;
    std::vector<json> old_rss;  // sorted oldest first
    json status;                // the status being computed (starts as d.status)
  };

  void enqueueOwner(const json& rs);
  void enqueueMatching(const json& rs);

  Result<std::vector<json>> claimReplicaSets(const json& d);
  // Finds the new RS, raises revisions, creates the new RS when `create`; fills `ro`.
  Status syncRevision(Rollout& ro, std::vector<json> rss, bool create);
  Status scaleReplicaSet(Rollout& ro, json& rs, int64_t replicas);
  static std::optional<size_t> findNewReplicaSet(const json& d, const std::vector<json>& rss);
  static bool isScalingEvent(const json& d, const std::vector<json>& rss);
  // Records a ScalingReplicaSet event about `d` (when a recorder is configured).
  void scalingEvent(const json& d, const std::string& message);
  // Spec.replicas changed (or paused): resize the active ReplicaSets, proportionally when a
  // rolling update is under way.
  Status scale(Rollout& ro);

  // strategies
  Result<bool> reconcileNewReplicaSet(Rollout& ro);
  Result<bool> reconcileOldReplicaSets(Rollout& ro);
  ReconcileResult rolloutRolling(Rollout& ro, std::vector<json> rss);
  ReconcileResult rolloutRecreate(Rollout& ro, std::vector<json> rss);
  ReconcileResult syncPaused(Rollout& ro, std::vector<json> rss);
  bool oldPodsRunning(const Rollout& ro) const;
  Status cleanup(Rollout& ro);

  // Computes the status from the ReplicaSets and writes it when it changed. `rollout`: also
  // advance the Progressing condition (complete, progressing, deadline exceeded).
  ReconcileResult syncStatus(Rollout& ro, bool rollout);
  int64_t newReplicasFor(const Rollout& ro, int64_t current_new) const;

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* deployments_;
  client::Informer* rss_;
  client::Informer* pods_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
