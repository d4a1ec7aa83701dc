#include "nodegroups/cloud/local/local_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace berth::cloud::local {
namespace {

class LocalStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-lcstate-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  TimePoint now_ = std::chrono::system_clock::from_time_t(1800000000);
};

TEST_F(LocalStateTest, CapacityFaultsCoverTheirPoolUntilTheyExpire) {
  EXPECT_TRUE(readCapacityFaults(dir_).empty());
  CapacityFault f{"m5.large", "local-1a", CapacityType::kSpot, now_ + std::chrono::minutes(5)};
  ASSERT_TRUE(addCapacityFault(dir_, f, now_).isOk());
  auto faults = readCapacityFaults(dir_);
  EXPECT_TRUE(capacityShort(faults, "m5.large", "local-1a", CapacityType::kSpot, now_));
  // Other pools are not affected: another capacity type, zone or type.
  EXPECT_FALSE(capacityShort(faults, "m5.large", "local-1a", CapacityType::kOnDemand, now_));
  EXPECT_FALSE(capacityShort(faults, "m5.large", "local-1b", CapacityType::kSpot, now_));
  EXPECT_FALSE(capacityShort(faults, "c5.large", "local-1a", CapacityType::kSpot, now_));
  EXPECT_FALSE(capacityShort(faults, "m5.large", "local-1a", CapacityType::kSpot,
                             now_ + std::chrono::minutes(6)));

  // A fault without an end lasts until cleared; one for the same pool replaces the old one.
  CapacityFault forever{"m5.large", "local-1a", CapacityType::kSpot, std::nullopt};
  ASSERT_TRUE(addCapacityFault(dir_, forever, now_).isOk());
  faults = readCapacityFaults(dir_);
  EXPECT_EQ(faults.size(), 1u);
  EXPECT_TRUE(capacityShort(faults, "m5.large", "local-1a", CapacityType::kSpot,
                            now_ + std::chrono::hours(24)));
  ASSERT_TRUE(clearFaults(dir_).isOk());
  EXPECT_TRUE(readCapacityFaults(dir_).empty());
}

TEST_F(LocalStateTest, ExpiredFaultsAreDroppedWhenAnotherIsAdded) {
  ASSERT_TRUE(addCapacityFault(dir_, {"m5.large", "local-1a", CapacityType::kOnDemand,
                                      now_ + std::chrono::seconds(1)}, now_).isOk());
  ASSERT_TRUE(addCapacityFault(dir_, {"c5.large", "local-1b", CapacityType::kOnDemand, std::nullopt},
                               now_ + std::chrono::seconds(2)).isOk());
  auto faults = readCapacityFaults(dir_);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].instance_type, "c5.large");
}

TEST_F(LocalStateTest, ZoneOutagesCoverTheWholeZoneAndLiveBesideCapacityFaults) {
  EXPECT_TRUE(readZoneOutages(dir_).empty());
  ASSERT_TRUE(addCapacityFault(dir_, {"m5.large", "local-1c", CapacityType::kSpot, std::nullopt}, now_).isOk());
  ASSERT_TRUE(addZoneOutage(dir_, {"local-1a", now_ + std::chrono::minutes(5)}, now_).isOk());
  ASSERT_TRUE(addZoneOutage(dir_, {"local-1b", std::nullopt}, now_).isOk());
  auto outages = readZoneOutages(dir_);
  EXPECT_EQ(outages.size(), 2u);
  EXPECT_TRUE(zoneOut(outages, "local-1a", now_));
  EXPECT_FALSE(zoneOut(outages, "local-1a", now_ + std::chrono::minutes(6)));
  EXPECT_TRUE(zoneOut(outages, "local-1b", now_ + std::chrono::hours(24)));
  EXPECT_FALSE(zoneOut(outages, "local-1c", now_));
  // Each kind of fault keeps the other.
  EXPECT_EQ(readCapacityFaults(dir_).size(), 1u);
  ASSERT_TRUE(addCapacityFault(dir_, {"c5.large", "local-1c", CapacityType::kSpot, std::nullopt}, now_).isOk());
  EXPECT_EQ(readZoneOutages(dir_).size(), 2u);
  // The same zone again replaces its outage; expired ones are dropped.
  ASSERT_TRUE(addZoneOutage(dir_, {"local-1b", now_ + std::chrono::minutes(10)}, now_ + std::chrono::minutes(7)).isOk());
  outages = readZoneOutages(dir_);
  ASSERT_EQ(outages.size(), 1u);
  EXPECT_EQ(outages[0].zone, "local-1b");
  EXPECT_FALSE(zoneOut(outages, "local-1b", now_ + std::chrono::minutes(11)));
  ASSERT_TRUE(clearFaults(dir_).isOk());
  EXPECT_TRUE(readZoneOutages(dir_).empty());
  EXPECT_TRUE(readCapacityFaults(dir_).empty());
}

TEST_F(LocalStateTest, SpotNoticeAndRecordsRoundTrip) {
  EXPECT_FALSE(readSpotNotice(dir_).has_value());
  ASSERT_TRUE(writeSpotNotice(dir_, now_).isOk());
  EXPECT_EQ(readSpotNotice(dir_), now_);

  InstanceRecord r;
  r.instance.id = newInstanceId();
  r.instance.zone = "local-1c";
  r.instance.capacity_type = CapacityType::kSpot;
  r.instance.tags = {{kTagCluster, "c1"}};
  r.instance.launch_time = now_;
  r.client_token = "tok";
  r.supervisor = {42, 7};
  auto back = instanceRecordFromJson(toJson(r));
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->instance.id, r.instance.id);
  EXPECT_EQ(back->instance.capacity_type, CapacityType::kSpot);
  EXPECT_EQ(back->instance.launch_time, now_);
  EXPECT_EQ(back->supervisor.start_time, 7u);
  EXPECT_EQ(back->client_token, "tok");
  EXPECT_EQ(r.instance.id.size(), 19u);
  EXPECT_EQ(r.instance.id.rfind("i-", 0), 0u);
}

}  // namespace
}  // namespace berth::cloud::local
