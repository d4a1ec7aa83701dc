#include "nodegroups/controller/mix.h"

#include <algorithm>
#include <set>

#include "apiserver/kinds/kind_util.h"
#include "common/strings.h"
#include "nodegroups/catalogue/catalogue.h"

namespace berth::nodegroups {

using cloud::CapacityType;
using nlohmann::json;
namespace k = apiserver::kinds;

const char* toString(SpotAllocationStrategy s) {
  switch (s) {
    case SpotAllocationStrategy::kLowestPrice: return "lowest-price";
    case SpotAllocationStrategy::kCapacityOptimized: return "capacity-optimized";
    case SpotAllocationStrategy::kPriceCapacityOptimized: return "price-capacity-optimized";
    case SpotAllocationStrategy::kCapacityOptimizedPrioritized:
      return "capacity-optimized-prioritized";
  }
  return "unknown";
}

Result<SpotAllocationStrategy> parseSpotAllocationStrategy(const std::string& s) {
  for (auto v : {SpotAllocationStrategy::kLowestPrice, SpotAllocationStrategy::kCapacityOptimized,
                 SpotAllocationStrategy::kPriceCapacityOptimized,
                 SpotAllocationStrategy::kCapacityOptimizedPrioritized}) {
    if (s == toString(v)) return v;
  }
  return invalid("unknown spot allocation strategy \"" + s +
                 "\" (want lowest-price, capacity-optimized, price-capacity-optimized or "
                 "capacity-optimized-prioritized)");
}

namespace {

Result<std::vector<std::string>> typesAt(const json* list, const std::string& path) {
  if (!list || !list->is_array() || list->empty()) return invalid(path + ": required");
  std::vector<std::string> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& t = (*list)[i];
    std::string p = path + "[" + std::to_string(i) + "]";
    if (!t.is_string()) return invalid(p + ": must be a string");
    Result<InstanceTypeInfo> info = lookupInstanceType(t.get<std::string>());
    if (!info.isOk()) return invalid(p + ": " + info.status().message());
    out.push_back(t.get<std::string>());
  }
  return out;
}

Result<int64_t> intField(const json& obj, const char* key, const std::string& path, int64_t lo,
                         int64_t hi, int64_t fallback) {
  const json* v = k::find(obj, {key});
  if (!v || v->is_null()) return fallback;
  if (!k::isInt(v) || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
    return invalid(path + "." + key + ": must be an integer between " + std::to_string(lo) +
                   " and " + std::to_string(hi));
  }
  return v->get<int64_t>();
}

}  // namespace

Result<Distribution> distributionFromSpec(const json& spec) {
  Distribution d;
  const json* dist = k::find(spec, {"instancesDistribution"});
  if (dist && dist->is_object()) {
    const std::string p = "spec.instancesDistribution";
    BERTH_ASSIGN_OR_RETURN(d.instance_types,
                           typesAt(k::find(*dist, {"instanceTypes"}), p + ".instanceTypes"));
    BERTH_ASSIGN_OR_RETURN(d.on_demand_base,
                           intField(*dist, "onDemandBaseCapacity", p, 0, 1 << 20, 0));
    BERTH_ASSIGN_OR_RETURN(
        d.on_demand_percentage,
        intField(*dist, "onDemandPercentageAboveBaseCapacity", p, 0, 100, 100));
    BERTH_ASSIGN_OR_RETURN(d.spot_pools, intField(*dist, "spotInstancePools", p, 1, 20, 2));
    std::string strategy = k::str(*dist, {"spotAllocationStrategy"});
    if (!strategy.empty()) {
      Result<SpotAllocationStrategy> s = parseSpotAllocationStrategy(strategy);
      if (!s.isOk()) return invalid(p + ".spotAllocationStrategy: " + s.status().message());
      d.spot_strategy = *s;
    }
    return d;
  }
  BERTH_ASSIGN_OR_RETURN(d.instance_types,
                         typesAt(k::find(spec, {"instanceTypes"}), "spec.instanceTypes"));
  if (k::flag(spec, {"spot"}) || k::str(spec, {"capacityType"}) == "SPOT") {
    d.on_demand_percentage = 0;
    // EKS applies capacity-optimized to spot managed node groups.
    d.spot_strategy = SpotAllocationStrategy::kCapacityOptimized;
  }
  return d;
}

CapacitySplit splitCapacity(const Distribution& d, int64_t total) {
  CapacitySplit s;
  int64_t base = std::min(total, d.on_demand_base);
  int64_t above = total - base;
  // Rounded up: a fractional instance goes to on-demand, as Auto Scaling does.
  int64_t od_above = (above * d.on_demand_percentage + 99) / 100;
  s.on_demand = base + od_above;
  s.spot = total - s.on_demand;
  return s;
}

std::string Pool::toString() const {
  return instance_type + "/" + zone + "/" + cloud::toString(capacity_type);
}

namespace {

int64_t countIf(const std::vector<Member>& ms, const std::function<bool(const Member&)>& f) {
  return std::count_if(ms.begin(), ms.end(), f);
}

double priceOf(const std::string& type, CapacityType ct) {
  const InstanceTypeInfo* t = findInstanceType(type);
  if (!t) return 1e9;
  return ct == CapacityType::kSpot ? t->spot_price : t->on_demand_price;
}

// The type to launch in `zone` among `available` (in instanceTypes order), or "".
std::string chooseType(const Distribution& d, const std::vector<std::string>& available,
                       const std::string& zone, CapacityType ct,
                       const std::vector<Member>& members) {
  if (available.empty()) return "";
  if (ct == CapacityType::kOnDemand ||
      d.spot_strategy == SpotAllocationStrategy::kCapacityOptimizedPrioritized) {
    return available.front();
  }
  auto usedInZone = [&](const std::string& type) {
    return countIf(members, [&](const Member& m) {
      return m.pool.instance_type == type && m.pool.zone == zone && m.pool.capacity_type == ct;
    });
  };
  std::vector<std::string> byPrice = available;
  std::stable_sort(byPrice.begin(), byPrice.end(), [&](const std::string& a, const std::string& b) {
    return priceOf(a, ct) < priceOf(b, ct);
  });
  std::vector<std::string> candidates;
  switch (d.spot_strategy) {
    case SpotAllocationStrategy::kLowestPrice:
      candidates.assign(byPrice.begin(),
                        byPrice.begin() + std::min<size_t>(byPrice.size(), d.spot_pools));
      break;
    case SpotAllocationStrategy::kPriceCapacityOptimized:
      candidates.assign(byPrice.begin(), byPrice.begin() + (byPrice.size() + 1) / 2);
      break;
    default:
      candidates = available;
      break;
  }
  // Least used first; ties go to the earlier candidate (cheaper, or earlier in the list).
  return *std::min_element(candidates.begin(), candidates.end(),
                           [&](const std::string& a, const std::string& b) {
                             return usedInZone(a) < usedInZone(b);
                           });
}

}  // namespace

Result<Pool> nextLaunch(const Distribution& d, const std::vector<std::string>& zones,
                        const std::vector<Member>& members, int64_t desired,
                        const PoolFilter& unavailable) {
  if (zones.empty()) return invalid("the node group has no zones to launch into");
  if (d.instance_types.empty()) return invalid("the node group has no instance types");
  int64_t n = members.size();
  CapacitySplit target = splitCapacity(d, std::max(desired, n + 1));
  int64_t od = countIf(members, [](const Member& m) {
    return m.pool.capacity_type == CapacityType::kOnDemand;
  });
  CapacityType ct = od < target.on_demand ? CapacityType::kOnDemand : CapacityType::kSpot;

  std::vector<std::string> order = zones;
  std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    return countIf(members, [&](const Member& m) { return m.pool.zone == a; }) <
           countIf(members, [&](const Member& m) { return m.pool.zone == b; });
  });
  std::vector<std::string> skipped;
  for (const std::string& zone : order) {
    std::vector<std::string> available;
    for (const std::string& type : d.instance_types) {
      Pool p{type, zone, ct};
      if (unavailable && unavailable(p)) {
        skipped.push_back(p.toString());
      } else {
        available.push_back(type);
      }
    }
    std::string type = chooseType(d, available, zone, ct, members);
    if (!type.empty()) return Pool{type, zone, ct};
  }
  return Status(Code::kUnavailable,
                "no " + std::string(cloud::toString(ct)) +
                    " capacity: every pool is unavailable (" + join(skipped, ", ") + ")");
}

std::vector<std::string> pickToTerminate(const Distribution& d, std::vector<Member> members,
                                         int64_t desired_after, int64_t count) {
  std::vector<std::string> out;
  CapacitySplit target = splitCapacity(d, desired_after);
  while (count-- > 0 && !members.empty()) {
    std::vector<Member> cands;
    for (const Member& m : members) {
      if (!m.healthy) cands.push_back(m);
    }
    if (cands.empty()) {
      int64_t spot = countIf(members, [](const Member& m) {
        return m.pool.capacity_type == CapacityType::kSpot;
      });
      int64_t od = members.size() - spot;
      for (const Member& m : members) {
        bool isSpot = m.pool.capacity_type == CapacityType::kSpot;
        if ((spot > target.spot && isSpot) || (spot <= target.spot && od > target.on_demand &&
                                               !isSpot)) {
          cands.push_back(m);
        }
      }
      if (cands.empty()) cands = members;
      // The zone with the most instances of the whole group, among the candidates' zones.
      std::map<std::string, int64_t> perZone;
      for (const Member& m : members) perZone[m.pool.zone]++;
      std::string zone;
      int64_t most = -1;
      for (const Member& m : cands) {
        int64_t c = perZone[m.pool.zone];
        if (c > most || (c == most && m.pool.zone < zone)) {
          most = c;
          zone = m.pool.zone;
        }
      }
      std::erase_if(cands, [&](const Member& m) { return m.pool.zone != zone; });
    }
    auto victim = std::min_element(cands.begin(), cands.end(), [](const Member& a, const Member& b) {
      if (a.outdated != b.outdated) return a.outdated;
      if (a.launch_time != b.launch_time) return a.launch_time < b.launch_time;
      return a.id < b.id;
    });
    out.push_back(victim->id);
    std::string id = victim->id;
    std::erase_if(members, [&](const Member& m) { return m.id == id; });
  }
  return out;
}

UnavailablePools::UnavailablePools(const Clock* clock, std::chrono::milliseconds ttl)
    : clock_(clock ? clock : &SystemClock::instance()), ttl_(ttl) {}

void UnavailablePools::markUnavailable(const Pool& pool, const std::string& reason) {
  std::lock_guard<std::mutex> l(mu_);
  entries_[pool] = Entry{pool, clock_->now() + ttl_, reason};
}

bool UnavailablePools::isUnavailable(const Pool& pool) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(pool);
  return it != entries_.end() && it->second.until > clock_->now();
}

std::vector<UnavailablePools::Entry> UnavailablePools::list() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Entry> out;
  TimePoint now = clock_->now();
  for (const auto& [pool, e] : entries_) {
    if (e.until > now) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.until < b.until; });
  return out;
}

}  // namespace berth::nodegroups
