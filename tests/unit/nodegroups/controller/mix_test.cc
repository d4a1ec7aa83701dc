#include "nodegroups/controller/mix.h"

#include <gtest/gtest.h>

#include "nodegroups/catalogue/catalogue.h"
#include "tests/unit/nodegroups/controller/fake_clock.h"

namespace berth::nodegroups {
namespace {

using cloud::CapacityType;
using nlohmann::json;
constexpr CapacityType kOD = CapacityType::kOnDemand;
constexpr CapacityType kSpot = CapacityType::kSpot;
const std::vector<std::string> kZones = {"local-1a", "local-1b", "local-1c"};

Member member(const std::string& id, const std::string& type, const std::string& zone,
              CapacityType ct, int age_minutes = 0) {
  Member m;
  m.id = id;
  m.pool = {type, zone, ct};
  m.launch_time = std::chrono::system_clock::from_time_t(1800000000) -
                  std::chrono::minutes(age_minutes);
  return m;
}

TEST(Catalogue, LooksUpTypes) {
  Result<InstanceTypeInfo> m5 = lookupInstanceType("m5.large");
  ASSERT_TRUE(m5.isOk());
  EXPECT_EQ(m5->vcpu, 2);
  EXPECT_EQ(m5->memory_mib, 8192);
  EXPECT_EQ(m5->maxPods(), 29);  // 3 ENIs x (10 - 1) + 2, as EKS's eni-max-pods
  EXPECT_LT(m5->spot_price, m5->on_demand_price);
  EXPECT_EQ(lookupInstanceType("t3.medium")->maxPods(), 17);
  EXPECT_EQ(lookupInstanceType("c5.xlarge")->maxPods(), 58);
  for (const char* t : {"t3.micro", "m6i.2xlarge", "c6i.large", "r5.xlarge", "c5a.xlarge"}) {
    EXPECT_NE(findInstanceType(t), nullptr) << t;
  }
}

TEST(Catalogue, UnknownTypeIsNamed) {
  Result<InstanceTypeInfo> r = lookupInstanceType("m99.huge");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("\"m99.huge\""), std::string::npos);
  EXPECT_NE(r.status().message().find("m5"), std::string::npos);
}

TEST(Catalogue, NearbyNamesComeByEditDistance) {
  std::vector<std::string> near = nearbyInstanceTypes("c5.larg", 3);
  ASSERT_EQ(near.size(), 3u);
  EXPECT_EQ(near[0], "c5.large");
  EXPECT_EQ(nearbyInstanceTypes("m6i.xlarge", 1), std::vector<std::string>{"m6i.xlarge"});
  Result<InstanceTypeInfo> r = lookupInstanceType("t3.smal");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("nearest: t3.small"), std::string::npos) << r.status().message();
}

TEST(Mix, SplitFollowsBaseAndPercentage) {
  Distribution d;
  d.on_demand_base = 2;
  d.on_demand_percentage = 25;
  EXPECT_EQ(splitCapacity(d, 1).on_demand, 1);
  EXPECT_EQ(splitCapacity(d, 2).on_demand, 2);
  EXPECT_EQ(splitCapacity(d, 2).spot, 0);
  // 10: base 2, 25% of 8 = 2 on-demand above it, 6 spot.
  EXPECT_EQ(splitCapacity(d, 10).on_demand, 4);
  EXPECT_EQ(splitCapacity(d, 10).spot, 6);
  // 3: 25% of 1 rounds up to on-demand.
  EXPECT_EQ(splitCapacity(d, 3).on_demand, 3);
  EXPECT_EQ(splitCapacity(d, 5).on_demand, 3);  // 25% of 3 = 0.75 -> 1
  d.on_demand_base = 0;
  d.on_demand_percentage = 0;
  EXPECT_EQ(splitCapacity(d, 7).spot, 7);
  d.on_demand_percentage = 100;
  EXPECT_EQ(splitCapacity(d, 7).on_demand, 7);
}

TEST(Mix, DistributionFromSpec) {
  Result<Distribution> od = distributionFromSpec(json::parse(R"({"instanceTypes":["m5.large"]})"));
  ASSERT_TRUE(od.isOk()) << od.status().message();
  EXPECT_TRUE(od->allOnDemand());
  Result<Distribution> spot =
      distributionFromSpec(json::parse(R"({"spot":true,"instanceTypes":["c5.large","c6i.large"]})"));
  ASSERT_TRUE(spot.isOk());
  EXPECT_EQ(spot->on_demand_percentage, 0);
  EXPECT_EQ(splitCapacity(*spot, 4).spot, 4);
  Result<Distribution> mixed = distributionFromSpec(json::parse(R"({"instancesDistribution":{
      "instanceTypes":["m6i.large","m5.large"],"onDemandBaseCapacity":1,
      "onDemandPercentageAboveBaseCapacity":50,"spotAllocationStrategy":"price-capacity-optimized"}})"));
  ASSERT_TRUE(mixed.isOk()) << mixed.status().message();
  EXPECT_EQ(mixed->on_demand_base, 1);
  EXPECT_EQ(mixed->spot_strategy, SpotAllocationStrategy::kPriceCapacityOptimized);
  EXPECT_EQ(mixed->instance_types.size(), 2u);

  Result<Distribution> bad = distributionFromSpec(json::parse(
      R"({"instancesDistribution":{"instanceTypes":["m5.large"],"onDemandPercentageAboveBaseCapacity":101}})"));
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("onDemandPercentageAboveBaseCapacity"), std::string::npos);
  Result<Distribution> badType =
      distributionFromSpec(json::parse(R"({"instanceTypes":["m5.large","x1.nope"]})"));
  ASSERT_FALSE(badType.isOk());
  EXPECT_NE(badType.status().message().find("spec.instanceTypes[1]"), std::string::npos);
  Result<Distribution> badStrategy = distributionFromSpec(json::parse(
      R"({"instancesDistribution":{"instanceTypes":["m5.large"],"spotAllocationStrategy":"cheapest"}})"));
  ASSERT_FALSE(badStrategy.isOk());
  EXPECT_NE(badStrategy.status().message().find("cheapest"), std::string::npos);
}

TEST(Mix, LaunchesBalanceZones) {
  Distribution d;
  d.instance_types = {"m5.large"};
  std::vector<Member> ms;
  std::map<std::string, int> perZone;
  for (int i = 0; i < 9; ++i) {
    Result<Pool> p = nextLaunch(d, kZones, ms, 9, nullptr);
    ASSERT_TRUE(p.isOk());
    EXPECT_EQ(p->capacity_type, kOD);
    perZone[p->zone]++;
    ms.push_back(member("i-" + std::to_string(i), p->instance_type, p->zone, p->capacity_type));
  }
  for (const auto& z : kZones) EXPECT_EQ(perZone[z], 3) << z;
  // An unbalanced group launches into its emptiest zone first.
  ms = {member("a", "m5.large", "local-1a", kOD), member("b", "m5.large", "local-1a", kOD),
        member("c", "m5.large", "local-1c", kOD)};
  EXPECT_EQ(nextLaunch(d, kZones, ms, 4, nullptr)->zone, "local-1b");
}

TEST(Mix, LaunchesTheMixOfTheDistribution) {
  Distribution d;
  d.instance_types = {"m5.large", "m6i.large"};
  d.on_demand_base = 1;
  d.on_demand_percentage = 50;
  std::vector<Member> ms;
  int od = 0, spot = 0;
  for (int i = 0; i < 5; ++i) {
    Result<Pool> p = nextLaunch(d, kZones, ms, 5, nullptr);
    ASSERT_TRUE(p.isOk());
    (p->capacity_type == kOD ? od : spot)++;
    ms.push_back(member("i-" + std::to_string(i), p->instance_type, p->zone, p->capacity_type));
  }
  EXPECT_EQ(od, 3);  // 1 base + 50% of 4
  EXPECT_EQ(spot, 2);
}

TEST(Mix, SpotStrategiesPickPools) {
  Distribution d;
  d.on_demand_percentage = 0;
  d.instance_types = {"m5.large", "m6i.large", "m5a.large"};  // spot: m6i < m5a < m5 by price
  d.spot_strategy = SpotAllocationStrategy::kLowestPrice;
  d.spot_pools = 1;
  EXPECT_EQ(nextLaunch(d, {"z"}, {}, 1, nullptr)->instance_type, "m6i.large");
  // Two pools: spread over the two cheapest.
  d.spot_pools = 2;
  std::vector<Member> ms = {member("a", "m6i.large", "z", kSpot)};
  EXPECT_EQ(nextLaunch(d, {"z"}, ms, 2, nullptr)->instance_type, "m5a.large");
  ms.push_back(member("b", "m5a.large", "z", kSpot));
  EXPECT_EQ(nextLaunch(d, {"z"}, ms, 3, nullptr)->instance_type, "m6i.large");
  // Prioritized: the list order.
  d.spot_strategy = SpotAllocationStrategy::kCapacityOptimizedPrioritized;
  EXPECT_EQ(nextLaunch(d, {"z"}, ms, 3, nullptr)->instance_type, "m5.large");
  // Capacity-optimized: the least used pool.
  d.spot_strategy = SpotAllocationStrategy::kCapacityOptimized;
  EXPECT_EQ(nextLaunch(d, {"z"}, ms, 3, nullptr)->instance_type, "m5.large");
  // Price-capacity-optimized: the cheaper half (m6i, m5a), least used first.
  d.spot_strategy = SpotAllocationStrategy::kPriceCapacityOptimized;
  ms.push_back(member("c", "m6i.large", "z", kSpot));
  EXPECT_EQ(nextLaunch(d, {"z"}, ms, 4, nullptr)->instance_type, "m5a.large");
}

TEST(Mix, UnavailablePoolsFallBackToAnotherTypeThenZone) {
  Distribution d;
  d.instance_types = {"c5.large", "c6i.large"};
  std::set<std::string> down = {"c5.large/local-1a/on-demand"};
  PoolFilter f = [&](const Pool& p) { return down.count(p.toString()) > 0; };
  Result<Pool> p = nextLaunch(d, kZones, {}, 1, f);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->zone, "local-1a");
  EXPECT_EQ(p->instance_type, "c6i.large");
  down.insert("c6i.large/local-1a/on-demand");
  p = nextLaunch(d, kZones, {}, 1, f);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->zone, "local-1b");
  EXPECT_EQ(p->instance_type, "c5.large");
  for (const char* z : {"local-1b", "local-1c"}) {
    down.insert(std::string("c5.large/") + z + "/on-demand");
    down.insert(std::string("c6i.large/") + z + "/on-demand");
  }
  p = nextLaunch(d, kZones, {}, 1, f);
  ASSERT_FALSE(p.isOk());
  EXPECT_EQ(p.status().code(), Code::kUnavailable);
  EXPECT_NE(p.status().message().find("c6i.large/local-1c/on-demand"), std::string::npos);
}

TEST(Mix, ScaleInTakesFromTheFullestZoneOldestFirst) {
  Distribution d;
  d.instance_types = {"m5.large"};
  std::vector<Member> ms = {member("a1", "m5.large", "local-1a", kOD, 30),
                            member("a2", "m5.large", "local-1a", kOD, 50),
                            member("b1", "m5.large", "local-1b", kOD, 90),
                            member("c1", "m5.large", "local-1c", kOD, 10)};
  EXPECT_EQ(pickToTerminate(d, ms, 3, 1), std::vector<std::string>{"a2"});
  // Then zones are even: the oldest of the fullest zones, ties in zone order.
  std::vector<std::string> two = pickToTerminate(d, ms, 2, 2);
  EXPECT_EQ(two, (std::vector<std::string>{"a2", "a1"}));
  // An outdated instance goes before an older current one; an unhealthy one before all.
  ms[0].outdated = true;
  EXPECT_EQ(pickToTerminate(d, ms, 3, 1), std::vector<std::string>{"a1"});
  ms[3].healthy = false;
  EXPECT_EQ(pickToTerminate(d, ms, 3, 1), std::vector<std::string>{"c1"});
}

TEST(Mix, ScaleInTakesTheCapacityTypeAboveItsTarget) {
  Distribution d;
  d.instance_types = {"m5.large"};
  d.on_demand_base = 2;
  d.on_demand_percentage = 0;
  std::vector<Member> ms = {member("od1", "m5.large", "local-1a", kOD, 100),
                            member("od2", "m5.large", "local-1b", kOD, 100),
                            member("s1", "m5.large", "local-1c", kSpot, 1),
                            member("s2", "m5.large", "local-1a", kSpot, 2)};
  // Going to 2: both spot instances go, although on-demand ones are older.
  std::vector<std::string> v = pickToTerminate(d, ms, 2, 2);
  EXPECT_EQ(std::set<std::string>(v.begin(), v.end()), (std::set<std::string>{"s1", "s2"}));
  // s2 first: its zone (1a) has the most instances.
  EXPECT_EQ(v.front(), "s2");
}

TEST(Mix, UnavailablePoolsExpire) {
  testing::FakeClock clock;
  UnavailablePools pools(&clock);
  Pool p{"m5.large", "local-1a", kSpot};
  EXPECT_FALSE(pools.isUnavailable(p));
  pools.markUnavailable(p, "InsufficientInstanceCapacity");
  EXPECT_TRUE(pools.isUnavailable(p));
  EXPECT_FALSE(pools.isUnavailable(Pool{"m5.large", "local-1a", kOD}));
  ASSERT_EQ(pools.list().size(), 1u);
  EXPECT_EQ(pools.list()[0].until, clock.now() + std::chrono::minutes(3));
  clock.advance(std::chrono::seconds(179));
  EXPECT_TRUE(pools.isUnavailable(p));
  clock.advance(std::chrono::seconds(2));
  EXPECT_FALSE(pools.isUnavailable(p));
  EXPECT_TRUE(pools.list().empty());
}

}  // namespace
}  // namespace berth::nodegroups
