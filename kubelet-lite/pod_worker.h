// PodWorker: one level-triggered sync of one pod against the container runtime, as upstream's
// kubelet SyncPod: make the sandbox, prepare volumes, run init containers one at a time in
// order, then the containers; restart exited ones per restartPolicy with CrashBackoff; report
// why a container waits (ContainerCreating, PodInitializing, CrashLoopBackOff, ErrImagePull,
// ImagePullBackOff, CreateContainerConfigError, CreateContainerError, RunContainerError); take
// started/ready from the ProbeManager's verdicts and restart (per restartPolicy, with back-off)
// a container whose liveness or startup probe failed; on a pod with deletionTimestamp run
// preStop hooks and stop every container within the grace period. It records the kubelet's
// container events with upstream's reasons and messages: Pulling / Pulled ("Successfully pulled
// image ... in 1.2s (1.2s including waiting)" or "Container image ... already present on
// machine"), Failed ("Failed to pull image ...", "Error: ErrImagePull", "Error: <why>"), BackOff
// ("Back-off pulling image ...", "Back-off restarting failed container ..."), Created, Started,
// Killing ("Stopping container X", or after a failed probe). Repeats are left to the
// EventRecorder's deduplication (count++), as upstream.
// Everything it knows comes from the runtime's labels (pod uid, container name, restart
// count), so after an agent restart it adopts what runs instead of starting duplicates.
// Thread-safety: sync() for different pods may run concurrently; the same pod must not be
// synced twice at once (the agent's work queue guarantees it).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"
#include "kubelet-lite/backoff.h"
#include "kubelet-lite/pod_config.h"
#include "kubelet-lite/pod_status.h"
#include "kubelet-lite/prober.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

class PodWorker {
 public:
  struct Options {
    std::string root_dir;
    std::string node_name;
    std::string host_ip;
    // Resolver configuration (kubelet's --cluster-dns / --cluster-domain): pods with dnsPolicy
    // ClusterFirst get these; the node's resolv.conf text serves dnsPolicy Default.
    std::vector<std::string> cluster_dns;
    std::string cluster_domain = "cluster.local";
    std::string host_resolv_conf;
    // Running pods are looked at again this often even without events (adopted containers
    // whose exit no event reports).
    std::chrono::milliseconds resync{10000};
    // Runs the containers' probes (not owned); null: a running container is started and ready.
    ProbeManager* prober = nullptr;
    // Events about containers, as the kubelet records them (may be empty): Pulling, Pulled,
    // Failed, BackOff, ErrImageNeverPull, Created, Started, Killing.
    ContainerEventSink event;
  };
  struct Outcome {
    json status;              // the status to report; null when the pod is to be deleted
    bool delete_pod = false;  // everything stopped: delete the pod object for good
    std::optional<std::chrono::milliseconds> requeue_after;
  };

  PodWorker(ContainerRuntime* runtime, const Clock* clock, PodConfigResolver resolver, Options opts);

  Result<Outcome> sync(const json& pod);
  // The pod is gone from the API: stop and remove whatever of it still exists.
  Status cleanup(const std::string& uid);

 private:
  struct Instances;  // a container's instances, newest first
  Status terminate(const json& pod, const std::string& uid);
  // Starts a new instance of `spec` and fills `view` (current, or a waiting reason).
  void startInstance(const json& pod, const json& spec, bool init, int restart_count,
                     const std::string& sandbox_id, const PodSandboxConfig& sandbox,
                     const std::string& pod_ip,
                     const std::vector<std::pair<std::string, std::string>>& volumes,
                     ContainerView* view);
  // Restart decision for an exited instance; returns false while backing off (view waits).
  bool mayRestart(const std::string& key, const ContainerStatus& exited, const json& pod, bool init,
                  ContainerView* view, std::optional<std::chrono::milliseconds>* requeue);
  PodSandboxConfig sandboxConfig(const json& pod) const;
  // Probes: tells the prober what runs, kills (and via `restart(i)` restarts per policy)
  // containers whose liveness/startup probe failed, then sets started/ready from the verdicts.
  void applyProbes(const json& pod, const std::string& sandbox_id, const std::string& pod_ip,
                   std::vector<ContainerView>* views, const std::function<void(size_t)>& restart);
  std::vector<ProbeManager::Container> probeTargets(const json& pod, const std::string& sandbox_id,
                                                    const std::string& pod_ip,
                                                    const std::vector<ContainerView>& views);
  void killForProbe(const json& pod, const PodRef& ref, ProbeKind kind, ContainerView* v);
  // The image's id, pulling per policy; records the image events. Empty (and `view` waiting
  // with ErrImagePull / ErrImageNeverPull) when there is none.
  std::string pullImage(const json& pod, const json& spec, const std::string& key,
                        const std::string& field_path, ContainerView* view);
  void record(const json& pod, const std::string& field_path, bool warning,
              const std::string& reason, const std::string& message) const;

  ContainerRuntime* rt_;
  const Clock* clock_;
  PodConfigResolver resolver_;
  Options opts_;
  CrashBackoff backoff_;
  CrashBackoff pull_backoff_;
  std::mutex mu_;
  std::map<std::string, TimePoint> pull_failed_at_;  // key -> last pull failure
};

}  // namespace berth::kubelet
