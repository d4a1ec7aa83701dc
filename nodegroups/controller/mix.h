// Spot/on-demand mix, zone balancing and unavailable-pool memory for a node group, computed
// the way an EC2 Auto Scaling group with a MixedInstancesPolicy does:
//   - splitCapacity: onDemandBaseCapacity instances are on-demand, then
//     onDemandPercentageAboveBaseCapacity % of the rest (rounded up, in favour of on-demand),
//     the remainder spot;
//   - nextLaunch: the capacity type below its target, the zone with the fewest instances (ties
//     in zone order) that still has an available pool, and in it an instance type chosen by the
//     allocation strategy (on-demand: the instanceTypes order, "prioritized");
//   - pickToTerminate: unhealthy instances first, then the capacity type above its target, the
//     zone with the most instances, instances of an old template, then the oldest.
// A pool is (instance type, zone, capacity type); one that returned InsufficientInstanceCapacity
// is skipped for a TTL (Karpenter's unavailable-offerings cache, 3 minutes).
//
// Everything but UnavailablePools is a pure function. UnavailablePools is thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::nodegroups {

enum class SpotAllocationStrategy {
  kLowestPrice,                   // cheapest spotInstancePools pools, spread over them
  kCapacityOptimized,             // deepest pools: here, the pool the group uses least
  kPriceCapacityOptimized,        // the cheaper half of the pools, least used first
  kCapacityOptimizedPrioritized,  // instanceTypes order, skipping pools without capacity
};
const char* toString(SpotAllocationStrategy s);  // "lowest-price", ...
Result<SpotAllocationStrategy> parseSpotAllocationStrategy(const std::string& s);

// A node group's instancesDistribution (or what spot: true / capacityType imply).
struct Distribution {
  std::vector<std::string> instance_types;  // in order of preference
  int64_t on_demand_base = 0;
  int64_t on_demand_percentage = 100;  // of the instances above the base
  SpotAllocationStrategy spot_strategy = SpotAllocationStrategy::kLowestPrice;
  int64_t spot_pools = 2;  // lowest-price only

  bool allOnDemand() const { return on_demand_percentage >= 100; }
};

// Reads spec.instancesDistribution {instanceTypes, onDemandBaseCapacity,
// onDemandPercentageAboveBaseCapacity, spotAllocationStrategy, spotInstancePools}, else
// spec.spot: true or spec.capacityType SPOT (all spot), else all on-demand, with
// spec.instanceTypes. Errors name the field (unknown instance type, percentage out of range).
Result<Distribution> distributionFromSpec(const nlohmann::json& spec);

struct CapacitySplit {
  int64_t on_demand = 0;
  int64_t spot = 0;
};
CapacitySplit splitCapacity(const Distribution& d, int64_t total);

struct Pool {
  std::string instance_type;
  std::string zone;
  cloud::CapacityType capacity_type = cloud::CapacityType::kOnDemand;

  std::string toString() const;  // "m5.large/local-1a/spot"
  auto operator<=>(const Pool&) const = default;
};

// One instance of the group as the arithmetic sees it.
struct Member {
  std::string id;
  Pool pool;
  TimePoint launch_time{};
  bool outdated = false;  // launched from an older template
  bool healthy = true;    // false: its node never became Ready or went NotReady too long
};

using PoolFilter = std::function<bool(const Pool&)>;  // true: skip this pool

// The pool of the next instance to launch when the group has `members` and wants `desired`
// (launching beyond desired, e.g. a surge, is allowed: the target is computed for
// max(desired, members + 1)). Zones in preference order for ties. kUnavailable naming every
// pool skipped when none is available; kInvalid when zones or types are empty.
Result<Pool> nextLaunch(const Distribution& d, const std::vector<std::string>& zones,
                        const std::vector<Member>& members, int64_t desired,
                        const PoolFilter& unavailable);

// The ids of `count` members to terminate so that the group shrinks towards `desired_after`.
std::vector<std::string> pickToTerminate(const Distribution& d, std::vector<Member> members,
                                         int64_t desired_after, int64_t count);

// Pools that recently had no capacity. Thread-safe.
class UnavailablePools {
 public:
  struct Entry {
    Pool pool;
    TimePoint until{};
    std::string reason;
  };
  explicit UnavailablePools(const Clock* clock,
                            std::chrono::milliseconds ttl = std::chrono::minutes(3));
  void markUnavailable(const Pool& pool, const std::string& reason);
  bool isUnavailable(const Pool& pool) const;
  // The pools still unavailable, soonest to expire first.
  std::vector<Entry> list() const;
  std::chrono::milliseconds ttl() const { return ttl_; }

 private:
  const Clock* clock_;
  std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::map<Pool, Entry> entries_;
};

}  // namespace berth::nodegroups
