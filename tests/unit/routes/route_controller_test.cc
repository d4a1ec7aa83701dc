// RouteController: a route per node pod CIDR to the node's instance, moved when the CIDR
// changes, deleted when the node goes; nodes outside the cloud are skipped.
#include "networking/routes/route_controller.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "tests/unit/controllers/fake_client.h"

namespace berth::networking {
namespace {

using client::json;

class FakeNetwork : public cloud::NetworkDriver {
 public:
  Result<cloud::Vpc> ensureNetwork(const cloud::NetworkSpec&) override { return cloud::Vpc{}; }
  Result<cloud::Vpc> describeNetwork() override { return cloud::Vpc{}; }
  Status deleteNetwork() override { return Status::ok(); }
  Result<cloud::LoadBalancer> ensureLoadBalancer(const cloud::LoadBalancerSpec&) override {
    return cloud::LoadBalancer{};
  }
  Status deleteLoadBalancer(const std::string&) override { return Status::ok(); }
  Result<std::vector<cloud::LoadBalancer>> listLoadBalancers() override {
    return std::vector<cloud::LoadBalancer>{};
  }
  Status ensureRoute(const std::string& cidr, const std::string& instance) override {
    std::lock_guard<std::mutex> l(mu);
    if (instance == "i-unknown") return notFound("instance i-unknown");
    routes[cidr] = instance;
    return Status::ok();
  }
  Status deleteRoute(const std::string& cidr) override {
    std::lock_guard<std::mutex> l(mu);
    routes.erase(cidr);
    return Status::ok();
  }
  Result<std::map<std::string, std::string>> listRoutes() override {
    std::lock_guard<std::mutex> l(mu);
    if (!can_list) return Status(Code::kMethodNotAllowed, "no listing");
    return routes;
  }
  bool can_list = true;
  std::mutex mu;
  std::map<std::string, std::string> routes;
};

const client::Resource kNodes{"", "v1", "nodes", "Node", false, {}};

json node(const std::string& name, const std::string& cidr, const std::string& provider_id) {
  json n = {{"metadata", {{"name", name}, {"resourceVersion", "1"}}}, {"spec", json::object()}};
  if (!cidr.empty()) n["spec"]["podCIDR"] = cidr;
  if (!provider_id.empty()) n["spec"]["providerID"] = provider_id;
  return n;
}

TEST(ProviderId, InstanceId) {
  EXPECT_EQ(instanceIdFromProviderId("local:///local-1a/i-0123456789abcdef0"), "i-0123456789abcdef0");
  EXPECT_EQ(instanceIdFromProviderId("aws:///us-west-2a/i-0abc"), "i-0abc");
  EXPECT_EQ(instanceIdFromProviderId(""), "");
  EXPECT_EQ(instanceIdFromProviderId("i-0abc"), "");
  EXPECT_EQ(instanceIdFromProviderId("local:///"), "");
}

class RouteControllerTest : public ::testing::Test {
 protected:
  void start() {
    informers_ = std::make_unique<client::InformerFactory>(&client_);
    network_ = std::make_shared<FakeNetwork>();
    rc_ = std::make_unique<RouteController>(informers_.get(), network_, 1);
    informers_->start();
    for (auto* i : informers_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  }
  void TearDown() override {
    if (informers_) informers_->stop();
  }
  testing::FakeClient client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::shared_ptr<FakeNetwork> network_;
  std::unique_ptr<RouteController> rc_;
};

TEST_F(RouteControllerTest, RoutesEachNodesPodCidrToItsInstance) {
  client_.put(kNodes, node("i-aaa", "10.244.0.0/24", "local:///local-1a/i-aaa"));
  client_.put(kNodes, node("host", "10.244.1.0/24", ""));  // not a cloud instance
  client_.put(kNodes, node("i-unknown", "10.244.2.0/24", "local:///local-1b/i-unknown"));
  start();
  EXPECT_TRUE(rc_->reconcile("i-aaa").error.isOk());
  EXPECT_TRUE(rc_->reconcile("host").error.isOk());
  auto r = rc_->reconcile("i-unknown");
  EXPECT_TRUE(r.error.isOk());
  EXPECT_GT(r.requeue_after.count(), 0);  // looked at again later, not retried hot
  EXPECT_EQ(network_->routes, (std::map<std::string, std::string>{{"10.244.0.0/24", "i-aaa"}}));
}

TEST_F(RouteControllerTest, MovesTheRouteWithTheCidrAndDeletesItWithTheNode) {
  start();
  json n = node("i-aaa", "10.244.0.0/24", "local:///local-1a/i-aaa");
  ASSERT_TRUE(rc_->sync("i-aaa", &n).error.isOk());
  json moved = node("i-aaa", "10.244.5.0/24", "local:///local-1a/i-aaa");
  ASSERT_TRUE(rc_->sync("i-aaa", &moved).error.isOk());
  EXPECT_EQ(network_->routes, (std::map<std::string, std::string>{{"10.244.5.0/24", "i-aaa"}}));
  ASSERT_TRUE(rc_->sync("i-aaa", nullptr).error.isOk());
  EXPECT_TRUE(network_->routes.empty());
  // A node never routed by this controller: nothing to delete.
  EXPECT_TRUE(rc_->sync("i-other", nullptr).error.isOk());
}

// Routes left by nodes deleted (or re-addressed) while the server was down go once the cache
// has synced; routes of existing nodes stay, even one pointing at an old instance (the node's
// own reconcile replaces it).
TEST_F(RouteControllerTest, RemovesStaleRoutesOnStart) {
  client_.put(kNodes, node("i-aaa", "10.244.0.0/24", "local:///local-1a/i-aaa"));
  client_.put(kNodes, node("i-bbb", "10.244.1.0/24", "local:///local-1b/i-bbb"));
  client_.put(kNodes, node("host", "10.244.3.0/24", ""));  // not a cloud instance
  start();
  network_->routes = {{"10.244.0.0/24", "i-aaa"},   // live
                      {"10.244.1.0/24", "i-old"},   // the node's CIDR, an old instance
                      {"10.244.2.0/24", "i-gone"},  // node deleted while down
                      {"10.244.3.0/24", "i-ccc"},   // only a non-cloud node has this CIDR
                      {"10.244.9.0/24", "i-aaa"}};  // i-aaa's CIDR before it changed
  auto r = rc_->reconcile(RouteController::kStaleRoutesKey);
  ASSERT_TRUE(r.error.isOk()) << r.error.message();
  EXPECT_EQ(network_->routes, (std::map<std::string, std::string>{{"10.244.0.0/24", "i-aaa"},
                                                                  {"10.244.1.0/24", "i-old"}}));
  ASSERT_TRUE(rc_->reconcile("i-bbb").error.isOk());
  EXPECT_EQ(network_->routes["10.244.1.0/24"], "i-bbb");
}

TEST_F(RouteControllerTest, StaleRouteSweepRunsWhenTheControllerStarts) {
  client_.put(kNodes, node("i-aaa", "10.244.0.0/24", "local:///local-1a/i-aaa"));
  start();
  network_->routes = {{"10.244.7.0/24", "i-gone"}};
  rc_->start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard<std::mutex> l(network_->mu);
      if (!network_->routes.count("10.244.7.0/24") && network_->routes.count("10.244.0.0/24")) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "stale route not removed on start";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  rc_->stop();
}

TEST_F(RouteControllerTest, CloudWithoutRouteListingSkipsTheSweep) {
  start();
  network_->can_list = false;
  network_->routes = {{"10.244.7.0/24", "i-gone"}};
  EXPECT_TRUE(rc_->reconcile(RouteController::kStaleRoutesKey).error.isOk());
  EXPECT_EQ(network_->routes.size(), 1u);
}

}  // namespace
}  // namespace berth::networking
