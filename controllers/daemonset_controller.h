// DaemonSetController: runs one pod of each DaemonSet on every eligible node, as upstream's
// pkg/controller/daemon.
//
// Handlers only enqueue "ns/name" of DaemonSets: a pod maps to its controlling DaemonSet; a node
// added, deleted, or changed in labels, taints or schedulability enqueues every DaemonSet.
// reconcile(key) reads the cache and judges each node: a node should run the pod when the
// template's nodeSelector and required node affinity match it and every NoSchedule/NoExecute
// taint is tolerated (the template's tolerations plus upstream's default DaemonSet ones); an
// existing pod may continue while its NoExecute taints are tolerated. Nodes labelled
// eks.amazonaws.com/compute-type=fargate never run DaemonSet pods. Then, one step per
// reconcile and only when expectations are met:
//  - deletes pods that must go: on nodes that no longer fit, on nodes that no longer exist
//    (gracePeriodSeconds 0, the pod GC's part), failed or succeeded pods, surplus pods on a node;
//    for RollingUpdate with maxSurge 0, pods of an older template hash, unavailable ones first,
//    the rest while no more than maxUnavailable nodes lack an available pod; with maxSurge > 0
//    (upstream's surge; validation then requires maxUnavailable 0) a node keeps the oldest pod of
//    each hash, and its old pod is deleted once the new one is available; OnDelete leaves old
//    pods alone;
//  - for a surging RollingUpdate, also creates the new pod next to the old one: at once where the
//    old pod is unavailable, elsewhere while fewer than maxSurge nodes are mid-replacement;
//  - otherwise creates the missing pods (generateName "<ds>-", the template's labels plus
//    controller-revision-hash, a controlling ownerReference, required node affinity replaced by
//    matchFields metadata.name=<node> so that the scheduler binds it there).
// Revisions: before judging pods, reconcile makes sure a ControllerRevision "<ds>-<hash>"
// (labels: the template's plus controller-revision-hash, owned by the DaemonSet, data: a strategic
// merge patch {"spec":{"template":{..., "$patch":"replace"}}}) exists for the current template with
// the highest revision number (a template that returns to an older revision, as `kubectl rollout
// undo` does, gets that revision renumbered), and deletes the oldest revisions beyond
// spec.revisionHistoryLimit (default 10) that no pod runs. `kubectl rollout history/undo
// daemonset` work from these.
// Status (desired/current/misscheduled/ready/available/unavailable/updated numbers,
// observedGeneration) is written through PUT /status when it changes.
// Thread-safety: reconcile() may run on several workers at once (different keys).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/replicaset_controller.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

extern const char kControllerRevisionHashLabel[];  // "controller-revision-hash"

class DaemonSetController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    int burst_replicas = 250;  // most creates or deletes per sync, as upstream
    std::chrono::seconds expectations_ttl{300};
    const Clock* clock = nullptr;  // default SystemClock
    client::EventRecorder* recorder = nullptr;  // SuccessfulCreate/Delete, FailedCreate...
  };
  // Registers informers (daemonsets, pods, nodes, controllerrevisions) and handlers (before informers->start()).
  DaemonSetController(client::Client* client, client::InformerFactory* informers, Config config);
  ~DaemonSetController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& key);
  Controller& controller() { return *controller_; }
  Expectations& expectations() { return expectations_; }

  struct NodeFit {
    bool should_run = false;       // a pod should be created here
    bool should_continue = false;  // an existing pod may stay
  };
  static NodeFit nodeFit(const json& ds, const json& node);
  // The pod spec for `node`: the template's, with the default DaemonSet tolerations added and
  // the required node affinity pinned to the node's name.
  static json podSpecForNode(const json& template_spec, const std::string& node);
  // The node a DaemonSet pod is for: spec.nodeName, else its matchFields metadata.name.
  static std::string nodeOfPod(const json& pod);

 private:
  struct Plan;
  struct RollingState;
  void enqueueAll();
  Plan plan(const json& ds, const std::string& hash) const;
  void judgeSurgeNode(const std::string& node, const std::vector<client::ObjectPtr>& live,
                      const std::string& hash, int min_ready, TimePoint now, Plan& p,
                      RollingState& rs) const;
  void decideRollingUpdate(const json& ds, Plan& p, const RollingState& rs) const;
  Status execute(const std::string& key, const json& ds, const std::string& hash, const Plan& p);
  ReconcileResult syncStatus(const std::string& key, const json& ds, const Plan& p);
  Status syncRevisions(const std::string& key, const json& ds, const std::string& hash);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* dss_;
  client::Informer* pods_;
  client::Informer* nodes_;
  client::Informer* revisions_;
  Expectations expectations_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
