// The user-data parameters of a NodeGroup (berth.dev/v1alpha1): the node labels EKS and
// Karpenter put on its nodes (eks.amazonaws.com/nodegroup, eks.amazonaws.com/capacityType,
// karpenter.sh/capacity-type) plus the group's own labels, its taints, maxPods,
// preBootstrapCommands and userData. The caller fills in the cluster fields and the token.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <vector>

#include "nodegroups/bootstrap/user_data.h"

namespace berth::nodegroups::bootstrap {

// `capacity_type` is ON_DEMAND or SPOT: the group's spec.capacityType when empty (default
// ON_DEMAND).
Result<UserDataParams> nodeGroupUserDataParams(const json& nodegroup, const std::string& capacity_type);

}  // namespace berth::nodegroups::bootstrap
