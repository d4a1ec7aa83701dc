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

// Upstream's Priority admission plugin on a new pod. The pod's priorityClassName (else the
// global default class, whose name the pod then carries) gives spec.priority and
// spec.preemptionPolicy; with no class at all, priority 0 and PreemptLowerPriority. A class that
// does not exist, or a priority or preemptionPolicy in the pod that differs from the computed
// one, is kForbidden; its message lacks upstream's `pods "x" is forbidden: ` prefix.
Status admitPodPriority(nlohmann::json& pod, const std::vector<nlohmann::json>& classes);

// The global default among `classes`: the one with the lowest value should a race have made two
// (as upstream picks), or nullptr.
const nlohmann::json* globalDefaultPriorityClass(const std::vector<nlohmann::json>& classes);

// Upstream's LimitRanger on a new pod. First every range's Container defaults go into the
// containers and init containers that set no request or limit of that resource (the first
// range to set one wins; the pod is annotated kubernetes.io/limit-ranger with what was set).
// Then each range's bounds are checked: Container items per container, Pod items on the pod's
// total. The first range the pod breaks gives kForbidden with upstream's messages (several as
// "[a, b]"), without the `pods "x" is forbidden: ` prefix. `ranges` are the namespace's.
Status applyLimitRanges(nlohmann::json& pod, const std::vector<nlohmann::json>& ranges);

// LimitRanger on a new claim: the ranges' PersistentVolumeClaim items bound the storage it
// requests.
Status checkClaimLimits(const nlohmann::json& claim, const std::vector<nlohmann::json>& ranges);

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
