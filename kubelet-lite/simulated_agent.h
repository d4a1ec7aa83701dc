// SimulatedAgent: one process plays many nodes (like kwok). Each simulated node has its own Node
// object (spread round-robin over the zones), Lease and status heartbeats (all from one
// Heartbeat thread) and a /24 pod range. ONE pod informer watches every pod with a nodeName
// (cached in a stripped form so 30,000 pods stay small); pods bound to one of our nodes are
// reported Running and Ready at once with an IP from that node's range, and a pod being deleted
// gracefully is deleted for good at once (gracePeriodSeconds=0, uid precondition). Pods of Jobs,
// and pods annotated so, run to completion (simulated_completion.h).
// Nothing is deleted on shutdown unless delete_nodes_on_exit.
// Thread-safety: start/stop from one thread; handlers and workers synchronise on mu_.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/informer.h"
#include "client/workqueue.h"
#include "kubelet-lite/agent_options.h"
#include "kubelet-lite/backoff.h"
#include "kubelet-lite/heartbeat.h"
#include "kubelet-lite/node_status.h"

namespace berth::kubelet {

class SimulatedAgent {
 public:
  SimulatedAgent(client::Client* client, AgentOptions opts, HostFacts host);
  ~SimulatedAgent();
  SimulatedAgent(const SimulatedAgent&) = delete;
  SimulatedAgent& operator=(const SimulatedAgent&) = delete;

  // Registers every node, then starts heartbeats, the pod watch and the status writers.
  Status start();
  void stop();

  // The stripped form the pod cache keeps (exposed for tests).
  static void stripPod(json& pod);

 private:
  struct SimNode {
    NodeIdentity id;
    TimePoint ready_since;
    std::unordered_map<std::string, int> ip_by_uid;  // guarded by mu_
    std::set<int> used_hosts;                         // guarded by mu_
  };
  // The `index`th node this agent plays; `net_index` picks its pod /24 and InternalIP, unique
  // among the cluster's nodes (see assignPodCidrIndexes).
  std::string nodeNameFor(int index) const;
  NodeIdentity identityFor(int index, int net_index) const;
  Status registerNode(SimNode* node);
  void enqueueIfOurs(const client::ObjectPtr& pod);
  void onPodDeleted(const client::ObjectPtr& pod);
  void worker();
  Status syncPod(const std::string& key);
  // Ends (or restarts) a running pod as simulatedEnd says, once its time has come; until then
  // the key is queued again for that time.
  Status endIfDue(const std::string& key, const json& pod);
  // The pod's IP in its node's range: the one already in its status, else a free one; empty
  // when the range is full.
  std::string podIp(SimNode* node, const json& pod);
  void releaseIp(SimNode* node, const std::string& uid);

  client::Client* client_;
  AgentOptions opts_;
  HostFacts host_;
  std::unordered_map<std::string, std::unique_ptr<SimNode>> nodes_;  // fixed after start()
  std::mutex mu_;
  std::unique_ptr<Heartbeat> heartbeat_;
  std::unique_ptr<client::Informer> pods_;
  client::WorkQueue queue_;
  std::vector<std::thread> workers_;
  // A pod whose containers exit and restart (simulatedEnd without a final end).
  struct Restarts {
    int count = 0;
    bool waiting = false;        // in CrashLoopBackOff until backoff_until
    TimePoint run_started;       // when the containers last started running
    TimePoint last_run_started;  // when the run that last exited started (lastState)
    TimePoint exited;            // when the containers last exited
    TimePoint backoff_until;
  };
  std::unordered_map<std::string, Restarts> restarts_;  // by pod uid; guarded by mu_
  CrashBackoff backoff_;                                // keyed by pod uid
};

}  // namespace berth::kubelet
