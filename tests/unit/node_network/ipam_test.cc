// Ipam: addresses from a node's pod CIDR, persisted and adopted, released, never the gateway.
#include "kubelet-lite/network/ipam.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace berth::kubelet::net {
namespace {

class IpamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-ipam-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    file_ = dir_ + "/ipam.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Ipam> open(const std::string& cidr) {
    auto r = Ipam::open(cidr, file_);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r.isOk() ? std::move(r).value() : nullptr;
  }
  std::string dir_, file_;
};

TEST_F(IpamTest, HandsOutFromSecondAddressAndIsIdempotentPerOwner) {
  auto ipam = open("10.244.3.0/24");
  EXPECT_EQ(formatIpv4(ipam->gateway()), "10.244.3.1");
  auto a = ipam->allocate("sb-a");
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(formatIpv4(*a), "10.244.3.2");
  EXPECT_EQ(*ipam->allocate("sb-a"), *a);
  EXPECT_EQ(formatIpv4(*ipam->allocate("sb-b")), "10.244.3.3");
}

TEST_F(IpamTest, PersistsAndAdoptsAfterRestart) {
  uint32_t a, b;
  {
    auto ipam = open("10.244.3.0/24");
    a = *ipam->allocate("sb-a");
    b = *ipam->allocate("sb-b");
  }
  auto again = open("10.244.3.0/24");
  EXPECT_EQ(*again->allocate("sb-a"), a);
  EXPECT_EQ(*again->allocate("sb-b"), b);
  // A new owner does not get an address someone holds.
  uint32_t c = *again->allocate("sb-c");
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
}

TEST_F(IpamTest, ReleaseAndRetainOnlyFreeAddresses) {
  auto ipam = open("10.244.3.0/30");  // .2 is the only usable address
  uint32_t a = *ipam->allocate("sb-a");
  EXPECT_EQ(formatIpv4(a), "10.244.3.2");
  auto full = ipam->allocate("sb-b");
  ASSERT_FALSE(full.isOk());
  EXPECT_EQ(full.status().code(), Code::kUnavailable);
  ASSERT_TRUE(ipam->release("sb-a").isOk());
  EXPECT_EQ(*ipam->allocate("sb-b"), a);
  ASSERT_TRUE(ipam->retainOnly({"sb-other"}).isOk());
  EXPECT_TRUE(ipam->allocations().empty());
  // Freed for good: a restart does not bring it back.
  EXPECT_TRUE(open("10.244.3.0/30")->allocations().empty());
}

TEST_F(IpamTest, DoesNotReuseAFreedAddressAtOnce) {
  auto ipam = open("10.244.3.0/24");
  uint32_t a = *ipam->allocate("sb-a");
  ASSERT_TRUE(ipam->release("sb-a").isOk());
  EXPECT_NE(*ipam->allocate("sb-b"), a);
}

TEST_F(IpamTest, ANewCidrStartsEmptyAndBadCidrsAreRefused) {
  {
    auto ipam = open("10.244.3.0/24");
    (void)ipam->allocate("sb-a");
  }
  auto other = open("10.244.4.0/24");
  EXPECT_TRUE(other->allocations().empty());
  EXPECT_FALSE(Ipam::open("10.244.3.1/24", file_).isOk());  // host bits
  EXPECT_FALSE(Ipam::open("10.244.3.0/31", file_).isOk());  // no room
  EXPECT_FALSE(Ipam::open("banana", file_).isOk());
}

}  // namespace
}  // namespace berth::kubelet::net
