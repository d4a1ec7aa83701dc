// computePodStatus: core/v1 PodStatus from what the pod worker observed and decided, the way
// upstream's kubelet reports it (phase from the containers' states and the restart policy;
// conditions PodReadyToStartContainers/Initialized/ContainersReady/Ready/PodScheduled;
// container statuses with state/lastState/restartCount/ready/started; IPs; QoS class).
// Thread-safety: pure function.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet {

using json = nlohmann::json;

// One container of the pod spec, as the worker sees it.
struct ContainerView {
  std::string name;
  std::string image;
  std::optional<ContainerStatus> current;   // newest instance in the runtime
  std::optional<ContainerStatus> previous;  // the one before it (lastState)
  int restart_count = 0;
  // Set when the container is not running and should say why: ContainerCreating,
  // PodInitializing, CrashLoopBackOff, ErrImagePull, CreateContainerConfigError, ...
  std::string waiting_reason;
  std::string waiting_message;
  bool ready = false;
  bool started = false;
};

struct PodStatusInput {
  std::vector<ContainerView> init_containers;
  std::vector<ContainerView> containers;
  std::string restart_policy = "Always";
  bool sandbox_ready = false;
  std::string pod_ip;
  std::string host_ip;
  std::string runtime_name;  // containerID is "<runtime_name>://<id>"
};

// The pod phase alone (exposed for tests).
std::string podPhase(const PodStatusInput& in);
// The whole status; `pod` supplies the old status (startTime, transition times) and spec.
json computePodStatus(const json& pod, const PodStatusInput& in, TimePoint now);

}  // namespace berth::kubelet
