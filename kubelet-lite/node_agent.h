// NodeAgent: the real node agent (`--runtime process|runc`). Registers its Node (claiming a free
// /24 pod range when spec.podCIDR is empty), keeps it alive with a Heartbeat (Lease every 10 s,
// status every minute), watches the pods bound to it (fieldSelector spec.nodeName=<node>) and
// runs one PodWorker sync per pod key from a work queue (never two for one pod at once), with a
// ProbeManager running the containers' probes (a changed verdict re-queues the pod) and an
// EventRecorder for container events (Unhealthy, Killing). A sync
// writes the pod's status when it changed, and after a graceful deletion deletes the pod for
// good (gracePeriodSeconds=0 with a uid precondition). Runtime events (a container exited)
// re-queue their pod at once; every pod is also re-synced periodically. API errors are retried
// with back-off while containers keep running; the status catches up when the server returns.
// Thread-safety: start/stop from one thread; everything else runs on its own threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/event_recorder.h"
#include "client/informer.h"
#include "client/workqueue.h"
#include "kubelet-lite/agent_options.h"
#include "kubelet-lite/heartbeat.h"
#include "kubelet-lite/network/node_networking.h"
#include "kubelet-lite/node_status.h"
#include "kubelet-lite/pod_worker.h"
#include "kubelet-lite/prober.h"
#include "kubelet-lite/runtime/runtime.h"
#include "kubelet-lite/server/kubelet_server.h"

namespace berth::kubelet {

class NodeAgent {
 public:
  NodeAgent(client::Client* client, AgentOptions opts, HostFacts host,
            std::unique_ptr<ContainerRuntime> runtime);
  ~NodeAgent();
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  Status start();
  void stop();

 private:
  Status registerNode();
  void worker();
  // Queues the pod with this uid for a sync (runtime events, probe verdicts).
  void requeueUid(const std::string& uid);
  Status syncKey(const std::string& key);

  client::Client* client_;
  AgentOptions opts_;
  HostFacts host_;
  std::unique_ptr<ContainerRuntime> runtime_;
  std::unique_ptr<KubeletServer> server_;  // logs, exec, port-forward; stopped before runtime_ goes
  NodeIdentity id_;
  TimePoint ready_since_;
  std::unique_ptr<client::EventRecorder> recorder_;
  std::unique_ptr<ProbeManager> prober_;  // stopped before the runtime goes
  std::unique_ptr<net::NodeNetworking> network_;  // pod network, proxy, DNS; stopped after pods
  std::unique_ptr<PodWorker> pods_worker_;
  std::unique_ptr<Heartbeat> heartbeat_;
  std::unique_ptr<client::Informer> pods_;
  client::WorkQueue queue_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::map<std::string, std::string> key_by_uid_;  // guarded by mu_
  std::map<std::string, std::string> uid_by_key_;  // guarded by mu_
};

// The runtime named by --runtime: "process" or "runc" (state under <root-dir>/<node>/).
Result<std::unique_ptr<ContainerRuntime>> makeRuntime(const AgentOptions& opts,
                                                      const HostFacts& host);

}  // namespace berth::kubelet
