// NodeLifecycleController: node health from heartbeats, as upstream's
// pkg/controller/nodelifecycle.
//
// A node's agent renews the Lease kube-node-lease/<node> (spec.renewTime) and posts its Ready
// condition (lastHeartbeatTime). Like upstream, the controller trusts its own clock, not the
// timestamps: it records when it last saw either heartbeat change (the probe time), so clock
// skew between node and server does not matter and a restarted controller gives every node a
// fresh grace period. reconcile(node):
//   - probe older than the grace period: Ready, MemoryPressure, DiskPressure and PIDPressure
//     become Unknown (NodeStatusUnknown, "Kubelet stopped posting node status."; conditions
//     never posted get NodeStatusNeverUpdated), written through PUT nodes/status;
//   - taints follow the conditions (upstream's NoExecute tainting and TaintNodesByCondition):
//     Ready=False -> node.kubernetes.io/not-ready, Ready=Unknown -> node.kubernetes.io/unreachable
//     (NoExecute with timeAdded, and NoSchedule), pressure conditions and spec.unschedulable ->
//     their NoSchedule taints; taints it does not manage are kept; a node that recovers loses
//     them;
//   - a node not Ready gets its pods' Ready condition set to False (MarkPodsNotReady);
//   - a healthy node is looked at again when its grace period would run out (a timer, not a
//     poll); lease and node events look at it sooner.
// Evicting the pods of a tainted node is TaintEvictionController's job.
// Thread-safety: reconcile() may run on several workers at once (different keys); the
// heartbeat tracker is behind a mutex.
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

namespace berth::client {
class EventRecorder;
}

namespace berth::controllers {

inline constexpr char kTaintNotReady[] = "node.kubernetes.io/not-ready";
inline constexpr char kTaintUnreachable[] = "node.kubernetes.io/unreachable";
inline constexpr char kTaintUnschedulable[] = "node.kubernetes.io/unschedulable";
inline constexpr char kNodeLeaseNamespace[] = "kube-node-lease";
// Pod index by spec.nodeName (pods without a node are not indexed).
inline constexpr char kIndexNodeName[] = "nodeName";
std::vector<std::string> podNodeNameIndex(const json& pod);

const client::Resource& nodesResource();
const client::Resource& leasesResource();

// The node's conditions with every monitored condition made Unknown as upstream does when the
// grace period has passed; *changed says whether anything differs from `conditions`.
json unknownConditions(const json& conditions, const std::string& creation_timestamp,
                       TimePoint now, bool* changed);
// The node's spec.taints as they should be given `conditions` and spec.unschedulable:
// unmanaged taints kept in order, managed taints still wanted kept (with their timeAdded),
// missing ones appended (NoExecute ones stamped with timeAdded = now).
json desiredTaints(const json& node, const json& conditions, TimePoint now);
// Status of the condition `type` ("True", "False", "Unknown"), "" when absent.
std::string conditionStatus(const json& conditions, const std::string& type);

// When the controller last saw each node's heartbeat change, on its own clock.
class HeartbeatTracker {
 public:
  // Records `signature` (the heartbeat timestamps as the node posted them) for `node` and
  // returns the probe time: `now` when the signature is new or changed, else the earlier one.
  TimePoint observe(const std::string& node, const std::string& signature, TimePoint now);
  void forget(const std::string& node);

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, TimePoint>> seen_;
};

class NodeLifecycleController {
 public:
  struct Config {
    int workers = 2;
    client::WorkQueue::Options queue;
    std::chrono::milliseconds grace_period{40000};  // upstream's node-monitor-grace-period
    const Clock* clock = nullptr;                   // default SystemClock
    // Records NodeNotReady on the node and NodeNotReady on each pod marked not ready, as
    // upstream does. Optional.
    client::EventRecorder* recorder = nullptr;
  };
  // Registers informers (nodes, leases, pods) and handlers (before informers->start()).
  NodeLifecycleController(client::Client* client, client::InformerFactory* informers, Config config);
  ~NodeLifecycleController();

  void start();
  void stop();
  ReconcileResult reconcile(const std::string& node);
  Controller& controller() { return *controller_; }

 private:
  Status markPodsNotReady(const std::string& node, TimePoint now);

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  client::Informer* nodes_;
  client::Informer* leases_;
  client::Informer* pods_;
  HeartbeatTracker heartbeats_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace berth::controllers
