// StatefulSetController: runs the pods of each StatefulSet under stable names, as upstream's
// pkg/controller/statefulset.
//
// Handlers only enqueue "ns/name" of StatefulSets (a pod maps to its controlling StatefulSet).
// reconcile(key) reads the cache and, only when its expectations are met:
//  - keeps a ControllerRevision "<sts>-<hash>" for the current template (controller_revisions.h),
//    so `kubectl rollout history/undo statefulset` work; status.updateRevision names it and
//    status.currentRevision the revision the pods ran before the update (it catches up once every
//    pod runs the update revision and is ready);
//  - pods are "<sts>-<ordinal>" for ordinals [start, start+replicas) (spec.ordinals.start), with
//    the template's labels plus statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index
//    and controller-revision-hash=<revision name>, hostname = pod name and subdomain =
//    spec.serviceName. A pod below the RollingUpdate partition is created from the current
//    revision's template, the rest from the update revision's;
//  - OrderedReady: walks the ordinals upwards, deleting a failed or succeeded pod (to recreate
//    it) or creating a missing one, one at a time, and waits while a pod is not Running and
//    Ready; pods beyond the range go one at a time from the highest ordinal, again only while
//    the others are healthy. Parallel creates and deletes without waiting;
//  - RollingUpdate: once nothing else is to be done, deletes the highest-ordinal pod at or above
//    the partition that runs an older revision (it is recreated from the update revision), one
//    at a time, waiting while any pod in that range is unhealthy; OnDelete leaves pods alone.
// volumeClaimTemplates are stored but Berth has no PersistentVolumeClaims: a Warning event
// (reason ClaimsNotProvisioned) is recorded once per StatefulSet instead of creating claims.
// Status (replicas, ready/available/current/updated replicas, revisions, observedGeneration) is
// written through PUT /status when it changes.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/replicaset_controller.h"

namespace berth::client {
class EventRecorder;
}  // namespace berth::client

namespace berth::controllers {

extern const char kStatefulSetPodNameLabel[];  // "statefulset.kubernetes.io/pod-name"
extern const char kPodIndexLabel[];            // "apps.kubernetes.io/pod-index"

class StatefulSetController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    std::chrono::seconds expectations_ttl{300};
    const Clock* clock = nullptr;               // default SystemClock
    client::EventRecorder* recorder = nullptr;  // SuccessfulCreate/Delete, FailedCreate...
  };
  // Registers informers (statefulsets, pods, controllerrevisions) and handlers (before
  // informers->start()).
  StatefulSetController(client::Client* client, client::InformerFactory* informers, Config config);
  ~StatefulSetController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }

  // The ordinal of `pod_name` as a pod of StatefulSet `sts_name`, or -1.
  static int64_t ordinalOf(const std::string& sts_name, const std::string& pod_name);

 private:
  struct Revisions;
  struct Plan;
  Result<Revisions> revisions(const std::string& key, const json& sts);
  Plan plan(const json& sts, const Revisions& revs) const;
  Status execute(const std::string& key, const json& sts, const Revisions& revs, const Plan& p);
  json newPod(const json& sts, const Revisions& revs, int64_t ordinal) const;
  ReconcileResult syncStatus(const std::string& key, const json& sts, const Revisions& revs,
                             const Plan& p);
  void warnUnprovisionedClaims(const json& sts);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* sets_;
  client::Informer* pods_;
  client::Informer* revisions_;
  Expectations expectations_;
  std::mutex mu_;
  std::set<std::string> warned_claims_;  // StatefulSet uids; guarded by mu_
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
