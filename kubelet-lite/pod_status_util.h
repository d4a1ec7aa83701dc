// Pieces of core/v1 PodStatus that every agent mode computes the same way: QoS class and the
// pod conditions, plus the whole "everything is running and ready" status a simulated node
// reports.
// Thread-safety: pure functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace berth::kubelet {

using json = nlohmann::json;

// Guaranteed / Burstable / BestEffort from the containers' requests and limits.
std::string qosClass(const json& pod);
// One PodCondition; lastTransitionTime is kept from `old_conditions` when the status did not
// change.
json podCondition(const std::string& type, bool status, TimePoint now, const json& old_conditions,
                  const std::string& reason = "");
// The status of a pod whose containers all run and are ready (simulated nodes).
json simulatedRunningStatus(const json& pod, const std::string& pod_ip, const std::string& host_ip,
                            TimePoint now);

}  // namespace berth::kubelet
