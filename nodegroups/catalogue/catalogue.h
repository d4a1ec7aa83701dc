// The instance-type catalogue: the EC2 types node groups and every cloud driver may launch (t3, m5, m5a, m6i, c5, c5a,
// c6i, c6a, r5 families, a few sizes each) with their vCPUs, memory, ENI limits (for the
// max-pods formula of the VPC CNI) and hourly prices (on-demand list price and a typical spot
// price, US dollars, figures of this table's own, not a price feed).
//
// The table is a constant; every function here is pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace berth::nodegroups {

struct InstanceTypeInfo {
  std::string name;       // "m5.large"
  int vcpu = 0;
  int64_t memory_mib = 0;
  int max_enis = 0;       // network interfaces the type takes
  int ipv4_per_eni = 0;   // addresses per interface
  double on_demand_price = 0;  // $/hour
  double spot_price = 0;       // $/hour, a typical recent spot price

  // The VPC CNI's formula (without prefix delegation): every ENI's addresses but its primary
  // one, plus 2 for host-network pods (kube-proxy, aws-node).
  int maxPods() const { return max_enis * (ipv4_per_eni - 1) + 2; }
  std::string family() const { return name.substr(0, name.find('.')); }
};

// Every type, ordered by family then size.
const std::vector<InstanceTypeInfo>& instanceTypeCatalogue();

// The type named `name`, or nullptr.
const InstanceTypeInfo* findInstanceType(std::string_view name);

// Up to `n` catalogue names nearest to `name` (fewest character edits; ties in catalogue
// order), for "did you mean" messages.
std::vector<std::string> nearbyInstanceTypes(std::string_view name, size_t n = 4);

// The type named `name`, or kInvalid "unknown instance type \"x\" (nearest: a, b, c; the
// catalogue has the t3, m5, ... families)".
Result<InstanceTypeInfo> lookupInstanceType(std::string_view name);

}  // namespace berth::nodegroups
