#include "nodegroups/cloud/cloud_driver.h"

#include "common/strings.h"

namespace berth::cloud {

const char* toString(CapacityType c) { return c == CapacityType::kSpot ? "spot" : "on-demand"; }

Result<CapacityType> parseCapacityType(const std::string& s) {
  if (s == "spot" || s == "SPOT") return CapacityType::kSpot;
  if (s == "on-demand" || s == "ON_DEMAND") return CapacityType::kOnDemand;
  return invalid("unknown capacity type \"" + s + "\" (want spot or on-demand)");
}

const char* toString(InstanceState s) {
  switch (s) {
    case InstanceState::kPending: return "pending";
    case InstanceState::kRunning: return "running";
    case InstanceState::kShuttingDown: return "shutting-down";
    case InstanceState::kTerminated: return "terminated";
  }
  return "unknown";
}

const char* toString(NatMode m) {
  switch (m) {
    case NatMode::kDisable: return "Disable";
    case NatMode::kSingle: return "Single";
    case NatMode::kHighlyAvailable: return "HighlyAvailable";
  }
  return "unknown";
}

Result<NatMode> parseNatMode(const std::string& s) {
  if (s == "Disable") return NatMode::kDisable;
  if (s == "Single") return NatMode::kSingle;
  if (s == "HighlyAvailable") return NatMode::kHighlyAvailable;
  return invalid("unknown NAT gateway mode \"" + s + "\" (want Disable, Single or HighlyAvailable)");
}

bool isInsufficientCapacity(const Status& s) {
  return s.code() == Code::kUnavailable && startsWith(s.message(), "InsufficientInstanceCapacity:");
}

Status insufficientCapacity(const std::string& instance_type, const std::string& zone,
                            CapacityType capacity_type) {
  return Status(Code::kUnavailable, "InsufficientInstanceCapacity: no " +
                                        std::string(toString(capacity_type)) + " capacity for " +
                                        instance_type + " in " + zone);
}

}  // namespace berth::cloud
