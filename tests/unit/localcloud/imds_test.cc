#include "nodegroups/cloud/local/imds.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kubelet-lite/spot_watcher.h"

namespace berth::cloud::local {
namespace {

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t; }
  TimePoint t = std::chrono::system_clock::from_time_t(1800000000);
};

class ImdsTest : public ::testing::Test {
 protected:
  ImdsTest()
      : imds_(instance(), [this] { return notice_; }, clock_) {}

  static ImdsInstance instance() {
    ImdsInstance i;
    i.instance_id = "i-0123456789abcdef0";
    i.instance_type = "m5.large";
    i.zone = "local-1b";
    i.region = "local-1";
    i.private_ip = "192.168.96.5";
    i.capacity_type = CapacityType::kSpot;
    i.user_data = "#!/bin/sh\necho hi\n";
    return i;
  }
  ImdsResponse get(const std::string& path, const std::string& token = "") {
    ImdsRequest r{"GET", path, {}};
    if (!token.empty()) r.headers["x-aws-ec2-metadata-token"] = token;
    return imds_.handle(r);
  }
  std::string token(int ttl) {
    ImdsResponse r = imds_.handle(
        {"PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", std::to_string(ttl)}}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-aws-ec2-metadata-token-ttl-seconds"], std::to_string(ttl));
    return r.body;
  }

  FakeClock clock_;
  std::optional<TimePoint> notice_;
  Imds imds_;
};

TEST_F(ImdsTest, ServesTheInstanceIdentityOverImdsV1) {
  EXPECT_EQ(get("/latest/meta-data/instance-id").body, "i-0123456789abcdef0");
  EXPECT_EQ(get("/latest/meta-data/instance-type").body, "m5.large");
  EXPECT_EQ(get("/latest/meta-data/placement/availability-zone").body, "local-1b");
  EXPECT_EQ(get("/latest/meta-data/placement/region").body, "local-1");
  EXPECT_EQ(get("/latest/meta-data/local-ipv4").body, "192.168.96.5");
  EXPECT_EQ(get("/latest/meta-data/instance-life-cycle").body, "spot");
  EXPECT_EQ(get("/latest/meta-data/local-hostname").body, "ip-192-168-96-5.local-1.compute.internal");
  EXPECT_EQ(get("/latest/user-data").body, "#!/bin/sh\necho hi\n");
  auto doc = nlohmann::json::parse(get("/latest/dynamic/instance-identity/document").body);
  EXPECT_EQ(doc["availabilityZone"], "local-1b");
  EXPECT_EQ(get("/latest/meta-data/nothing-here").status, 404);
}

TEST_F(ImdsTest, ImdsV2TokensAreCheckedAndExpire) {
  std::string t = token(60);
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(get("/latest/meta-data/instance-id", t).body, "i-0123456789abcdef0");
  EXPECT_EQ(get("/latest/meta-data/instance-id", "not-a-token").status, 401);
  clock_.t += std::chrono::seconds(61);
  EXPECT_EQ(get("/latest/meta-data/instance-id", t).status, 401);
  // Bad TTLs, a proxied token request, and other methods are refused.
  EXPECT_EQ(imds_.handle({"PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "0"}}}).status, 400);
  EXPECT_EQ(imds_.handle({"PUT", "/latest/api/token", {{"x-aws-ec2-metadata-token-ttl-seconds", "21601"}}}).status, 400);
  EXPECT_EQ(imds_.handle({"PUT", "/latest/api/token", {}}).status, 400);
  EXPECT_EQ(imds_.handle({"PUT", "/latest/api/token",
                          {{"x-aws-ec2-metadata-token-ttl-seconds", "60"}, {"x-forwarded-for", "1.2.3.4"}}})
                .status,
            403);
  EXPECT_EQ(imds_.handle({"POST", "/latest/meta-data/instance-id", {}}).status, 405);
}

TEST_F(ImdsTest, SpotPathsAre404UntilANoticeThenTheNotice) {
  EXPECT_EQ(get("/latest/meta-data/spot/instance-action").status, 404);
  EXPECT_EQ(get("/latest/meta-data/spot/termination-time").status, 404);
  EXPECT_EQ(get("/latest/meta-data/").body.find("spot/"), std::string::npos);
  notice_ = clock_.t + std::chrono::minutes(2);
  ImdsResponse r = get("/latest/meta-data/spot/instance-action");
  ASSERT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["action"], "terminate");
  EXPECT_EQ(j["time"], formatRfc3339(*notice_));
  EXPECT_EQ(get("/latest/meta-data/spot/termination-time").body, formatRfc3339(*notice_));
  EXPECT_NE(get("/latest/meta-data/").body.find("spot/"), std::string::npos);
  // What the agent reads out of it.
  EXPECT_EQ(kubelet::SpotWatcher::parseInstanceAction(r.status, r.body), formatRfc3339(*notice_));
  EXPECT_EQ(kubelet::SpotWatcher::parseInstanceAction(404, "Not Found"), std::nullopt);
}

}  // namespace
}  // namespace berth::cloud::local
