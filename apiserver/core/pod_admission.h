// Pod admission and eviction rules that upstream keeps in admission plugins and the eviction
// REST handler: DefaultTolerationSeconds, and the PodDisruptionBudget checks of pods/eviction.
// Pure functions on JSON objects, so they are tested without a server. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::apiserver {

// DefaultTolerationSeconds: a pod that does not already tolerate the not-ready / unreachable
// NoExecute taints gets `{key, operator: Exists, effect: NoExecute, tolerationSeconds}` for each.
void addDefaultTolerations(nlohmann::json& pod, int64_t not_ready_seconds,
                           int64_t unreachable_seconds);

// EKS's Fargate webhook: when a FargateProfile (the first by name, skipping ones being deleted)
// has a selector matching a new pod that is not bound and asks for the default scheduler
// (namespace equal, every selector label on the pod), the pod gets schedulerName
// "fargate-scheduler", the label eks.amazonaws.com/fargate-profile=<profile> and a toleration of
// the eks.amazonaws.com/compute-type=fargate:NoSchedule taint its own node carries. Returns the
// profile's name, or "" when none matches.
std::string applyFargateProfile(nlohmann::json& pod, const std::vector<nlohmann::json>& profiles);

// Upstream's canIgnorePDB: a pod being deleted, or Succeeded, Failed or Pending, may always go.
bool evictionIgnoresBudget(const nlohmann::json& pod);

// An unhealthy (not Ready) Running pod may go without using the budget when the PDB's
// unhealthyPodEvictionPolicy is AlwaysAllow, or (IfHealthyBudget, the default) when the budget
// already has its desired healthy pods.
bool unhealthyPodMayGo(const nlohmann::json& pod, const nlohmann::json& pdb);

// The PDB after one eviction of `pod_name` at `now`: disruptionsAllowed one less (the
// DisruptionAllowed condition False with InsufficientPods when it reaches 0) and the pod in
// status.disruptedPods. TooManyRequests (with a DisruptionBudget cause) when the budget allows
// no disruption or its status is older than its spec, as upstream.
Result<nlohmann::json> consumeDisruption(const nlohmann::json& pdb, const std::string& pod_name,
                                         TimePoint now);

}  // namespace berth::apiserver
