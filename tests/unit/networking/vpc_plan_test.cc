#include "networking/vpc_plan.h"

#include <gtest/gtest.h>

#include "common/ipv4.h"

namespace berth::networking {
namespace {

const std::vector<std::string> kThreeZones = {"local-1a", "local-1b", "local-1c"};

std::vector<std::string> cidrsOf(const cloud::NetworkSpec& s, bool is_public) {
  std::vector<std::string> out;
  for (const auto& sub : s.subnets)
    if (sub.is_public == is_public) out.push_back(sub.zone + "=" + sub.cidr);
  return out;
}

// Expects an kInvalid error whose message starts with the field.
void expectFieldError(const Result<cloud::NetworkSpec>& r, const std::string& field,
                      const std::string& fragment) {
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_EQ(r.status().message().rfind(field + ":", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  ASSERT_EQ(r.status().causes().size(), 1u);
  EXPECT_EQ(r.status().causes()[0].field, field);
}

TEST(PlanNetwork, DefaultsCarveLikeEksctl) {
  auto r = planNetwork("c1", "local-1", kThreeZones, {});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->vpc_cidr, "192.168.0.0/16");
  EXPECT_EQ(r->nat, cloud::NatMode::kSingle);
  EXPECT_EQ(r->cluster, "c1");
  EXPECT_EQ(r->region, "local-1");
  EXPECT_EQ(cidrsOf(*r, true), (std::vector<std::string>{"local-1a=192.168.0.0/19", "local-1b=192.168.32.0/19",
                                                         "local-1c=192.168.64.0/19"}));
  EXPECT_EQ(cidrsOf(*r, false), (std::vector<std::string>{"local-1a=192.168.96.0/19", "local-1b=192.168.128.0/19",
                                                          "local-1c=192.168.160.0/19"}));
}

TEST(PlanNetwork, FiveZonesSplitIntoSixteen) {
  std::vector<std::string> zones = {"z1", "z2", "z3", "z4", "z5"};
  auto r = planNetwork("c", "r", zones, {.cidr = "10.20.0.0/16"});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->subnets.size(), 10u);
  EXPECT_EQ(r->subnets[0].cidr, "10.20.0.0/20");
  EXPECT_EQ(r->subnets[4].cidr, "10.20.64.0/20");
  EXPECT_TRUE(r->subnets[4].is_public);
  EXPECT_EQ(r->subnets[5].cidr, "10.20.80.0/20");
  EXPECT_FALSE(r->subnets[5].is_public);
  EXPECT_EQ(r->subnets[9].zone, "z5");
}

TEST(PlanNetwork, OneZoneOfASlash24) {
  auto r = planNetwork("c", "r", {"a"}, {.cidr = "10.1.2.0/24", .nat_gateway = "HighlyAvailable"});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(cidrsOf(*r, true), (std::vector<std::string>{"a=10.1.2.0/27"}));
  EXPECT_EQ(cidrsOf(*r, false), (std::vector<std::string>{"a=10.1.2.32/27"}));
  EXPECT_EQ(r->nat, cloud::NatMode::kHighlyAvailable);
}

TEST(PlanNetwork, NineZonesNeedTooManySubnets) {
  std::vector<std::string> zones;
  for (int i = 0; i < 9; ++i) zones.push_back("z" + std::to_string(i));
  expectFieldError(planNetwork("c", "r", zones, {}), "availabilityZones", "at most 16");
}

TEST(PlanNetwork, ZonesRequiredAndUnique) {
  expectFieldError(planNetwork("c", "r", {}, {}), "availabilityZones", "at least one");
  expectFieldError(planNetwork("c", "r", {"a", "a"}, {}), "availabilityZones", "twice");
}

TEST(PlanNetwork, BadVpcCidr) {
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.0/16"}), "vpc.cidr", "not a CIDR");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.0.0"}), "vpc.cidr", "not a CIDR");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.0.300/16"}), "vpc.cidr", "not a CIDR");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.1.0/16"}), "vpc.cidr",
                   "did you mean 10.0.0.0/16");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.0.0/8"}), "vpc.cidr", "out of range");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.cidr = "10.0.0.0/25"}), "vpc.cidr", "out of range");
}

TEST(PlanNetwork, UnknownNatMode) {
  expectFieldError(planNetwork("c", "r", kThreeZones, {.nat_gateway = "Double"}), "vpc.nat.gateway",
                   "Double");
  auto r = planNetwork("c", "r", kThreeZones, {.nat_gateway = "Disable"});
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->nat, cloud::NatMode::kDisable);
}

TEST(PlanNetwork, GivenSubnetsAreKept) {
  VpcConfig v{.cidr = "10.0.0.0/16",
              .public_subnets = {{"local-1a", "10.0.0.0/24"}, {"local-1b", "10.0.1.0/24"}},
              .private_subnets = {{"local-1a", "10.0.10.0/24"}, {"local-1b", "10.0.11.0/24"}}};
  auto r = planNetwork("c", "r", {"local-1a", "local-1b"}, v);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(cidrsOf(*r, true), (std::vector<std::string>{"local-1a=10.0.0.0/24", "local-1b=10.0.1.0/24"}));
  EXPECT_EQ(cidrsOf(*r, false), (std::vector<std::string>{"local-1a=10.0.10.0/24", "local-1b=10.0.11.0/24"}));
}

TEST(PlanNetwork, SubnetOutsideTheVpc) {
  VpcConfig v{.cidr = "10.0.0.0/16", .nat_gateway = "Disable",
              .private_subnets = {{"local-1a", "10.1.0.0/24"}}};
  expectFieldError(planNetwork("c", "r", kThreeZones, v), "vpc.subnets.private.local-1a.cidr",
                   "not inside the VPC's 10.0.0.0/16");
}

TEST(PlanNetwork, OverlappingSubnets) {
  VpcConfig v{.cidr = "10.0.0.0/16",
              .public_subnets = {{"local-1a", "10.0.0.0/20"}},
              .private_subnets = {{"local-1b", "10.0.8.0/24"}}};
  expectFieldError(planNetwork("c", "r", kThreeZones, v), "vpc.subnets.private.local-1b.cidr",
                   "overlaps vpc.subnets.public.local-1a.cidr");
}

TEST(PlanNetwork, SubnetForAnUnknownZone) {
  VpcConfig v{.public_subnets = {{"elsewhere-1a", "192.168.0.0/24"}}};
  expectFieldError(planNetwork("c", "r", kThreeZones, v), "vpc.subnets.public.elsewhere-1a",
                   "not in availabilityZones");
}

TEST(PlanNetwork, BadSubnetCidrs) {
  expectFieldError(planNetwork("c", "r", kThreeZones, {.public_subnets = {{"local-1a", "192.168.0.1/24"}}}),
                   "vpc.subnets.public.local-1a.cidr", "host bits");
  expectFieldError(planNetwork("c", "r", kThreeZones, {.public_subnets = {{"local-1a", "192.168.0.0/30"}}}),
                   "vpc.subnets.public.local-1a.cidr", "smaller than /28");
}

TEST(PlanNetwork, NatNeedsAPublicSubnet) {
  VpcConfig v{.private_subnets = {{"local-1a", "192.168.0.0/24"}}};
  expectFieldError(planNetwork("c", "r", kThreeZones, v), "vpc.nat.gateway", "public subnet");
  v.nat_gateway = "Disable";
  EXPECT_TRUE(planNetwork("c", "r", kThreeZones, v).isOk());
}

TEST(Ipv4, ParseAndFormat) {
  auto c = parseCidr("10.20.96.0/19");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->toString(), "10.20.96.0/19");
  EXPECT_EQ(formatIpv4(c->at(1)), "10.20.96.1");
  EXPECT_EQ(formatIpv4(c->last()), "10.20.127.255");
  EXPECT_TRUE(c->contains(*parseIpv4("10.20.100.7")));
  EXPECT_FALSE(c->contains(*parseIpv4("10.20.128.0")));
  EXPECT_FALSE(parseIpv4("01.2.3.4").isOk());
  EXPECT_FALSE(parseIpv4("1.2.3.4.5").isOk());
  EXPECT_FALSE(parseCidr("1.2.3.0/33").isOk());
}

}  // namespace
}  // namespace berth::networking
