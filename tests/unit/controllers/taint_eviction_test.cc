#include "controllers/taint_eviction_controller.h"

#include <gtest/gtest.h>

#include "controllers/node_lifecycle_controller.h"
#include "controllers/replicaset_controller.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using testing::Action;
using testing::FakeClient;
using testing::SettableClock;

const json kUnreachable = {{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoExecute"},
                           {"timeAdded", "2026-01-01T00:10:00Z"}};

json tol(const std::string& key, const std::string& op, json seconds = nullptr,
         const std::string& effect = "NoExecute", const std::string& value = "") {
  json t = {{"key", key}, {"operator", op}, {"effect", effect}};
  if (!value.empty()) t["value"] = value;
  if (!seconds.is_null()) t["tolerationSeconds"] = seconds;
  return t;
}

TEST(Tolerations, MatchAsUpstream) {
  json taint = {{"key", "k"}, {"value", "v"}, {"effect", "NoExecute"}};
  EXPECT_TRUE(tolerationMatches(tol("k", "Exists"), taint));
  EXPECT_TRUE(tolerationMatches(tol("k", "Equal", nullptr, "NoExecute", "v"), taint));
  EXPECT_FALSE(tolerationMatches(tol("k", "Equal", nullptr, "NoExecute", "w"), taint));
  EXPECT_FALSE(tolerationMatches(tol("other", "Exists"), taint));
  EXPECT_FALSE(tolerationMatches(tol("k", "Exists", nullptr, "NoSchedule"), taint));
  EXPECT_TRUE(tolerationMatches(tol("k", "Exists", nullptr, ""), taint));   // any effect
  EXPECT_TRUE(tolerationMatches({{"operator", "Exists"}}, taint));          // everything
  EXPECT_FALSE(tolerationMatches(tol("k", "Bogus"), taint));
}

TEST(EvictionDeadline, UntoleratedNowShortestTolerationOrNever) {
  TimePoint start;
  ASSERT_TRUE(parseRfc3339("2026-01-01T00:10:00Z", &start));
  auto from_added = [&](const json&) { return start; };
  json taints = json::array({kUnreachable});
  // Not tolerated: at once.
  EXPECT_EQ(evictionDeadline(json::array(), taints, from_added), TimePoint::min());
  // Tolerated for ever.
  EXPECT_FALSE(evictionDeadline(json::array({tol("node.kubernetes.io/unreachable", "Exists")}),
                                taints, from_added));
  // The shortest tolerationSeconds wins, counted from the taint's start.
  json tols = json::array({tol("node.kubernetes.io/unreachable", "Exists", 300),
                           tol("", "Exists", 20, "")});
  EXPECT_EQ(evictionDeadline(tols, taints, from_added), start + std::chrono::seconds(20));
  // Negative seconds mean at once.
  EXPECT_EQ(evictionDeadline(json::array({tol("node.kubernetes.io/unreachable", "Exists", -5)}),
                             taints, from_added),
            start);
  // NoSchedule taints never evict.
  json soft = json::array({{{"key", "x"}, {"effect", "NoSchedule"}}});
  EXPECT_FALSE(evictionDeadline(json::array(), soft, from_added));
}

TEST(TokenBucket, BurstThenRate) {
  SettableClock clock;
  TokenBucket b(2, 2, clock.now_);
  EXPECT_EQ(b.take(clock.now_).count(), 0);
  EXPECT_EQ(b.take(clock.now_).count(), 0);
  EXPECT_EQ(b.take(clock.now_).count(), 500);
  EXPECT_EQ(b.take(clock.now_ + std::chrono::milliseconds(500)).count(), 0);
}

json node(json taints) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", "n1"}, {"resourceVersion", "2"}, {"labels", {{"topology.kubernetes.io/zone", "z"}}}}},
          {"spec", {{"taints", taints}}}};
}

json pod(const std::string& name, json tolerations) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", name + "-uid"}, {"resourceVersion", "3"}}},
          {"spec", {{"nodeName", "n1"}, {"tolerations", tolerations}}}};
}

class TaintEvictionTest : public ::testing::Test {
 protected:
  void startController(double qps = 100, int burst = 100) {
    factory_ = std::make_unique<client::InformerFactory>(&fake_);
    TaintEvictionController::Config c;
    c.clock = &clock_;
    c.zone_qps = qps;
    c.zone_burst = burst;
    tec_ = std::make_unique<TaintEvictionController>(&fake_, factory_.get(), c);
    factory_->start();
    for (auto* i : factory_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
  }
  void TearDown() override {
    tec_.reset();
    factory_.reset();
  }
  std::vector<Action> deletes() {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb == "delete") out.push_back(a);
    return out;
  }
  SettableClock clock_;
  FakeClient fake_;
  std::unique_ptr<client::InformerFactory> factory_;
  std::unique_ptr<TaintEvictionController> tec_;
};

TEST_F(TaintEvictionTest, UntoleratingPodIsDeletedAtOnce) {
  fake_.put(nodesResource(), node(json::array({kUnreachable})));
  fake_.put(podsResource(), pod("p", json::array()));
  startController();
  auto r = tec_->reconcile("ns/p");
  ASSERT_TRUE(r.error.isOk());
  auto d = deletes();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "ns/p");
  EXPECT_EQ(d[0].body["preconditions"]["uid"], "p-uid");
}

TEST_F(TaintEvictionTest, TolerationSecondsDelayTheDeletionByATimer) {
  fake_.put(nodesResource(), node(json::array({kUnreachable})));
  fake_.put(podsResource(), pod("p", json::array({tol("node.kubernetes.io/unreachable", "Exists", 30)})));
  startController();
  auto r = tec_->reconcile("ns/p");
  EXPECT_TRUE(deletes().empty());
  EXPECT_GE(r.requeue_after, std::chrono::seconds(30));
  EXPECT_LT(r.requeue_after, std::chrono::seconds(31));
  clock_.now_ += std::chrono::seconds(29);
  r = tec_->reconcile("ns/p");
  EXPECT_TRUE(deletes().empty());
  EXPECT_LE(r.requeue_after, std::chrono::milliseconds(1100));
  clock_.now_ += std::chrono::seconds(1);
  r = tec_->reconcile("ns/p");
  EXPECT_EQ(deletes().size(), 1u);
  EXPECT_EQ(r.requeue_after.count(), 0);
}

TEST_F(TaintEvictionTest, ForeverTolerationAndUntaintedNodeKeepThePod) {
  fake_.put(nodesResource(), node(json::array({kUnreachable})));
  fake_.put(podsResource(), pod("p", json::array({tol("node.kubernetes.io/unreachable", "Exists")})));
  startController();
  auto r = tec_->reconcile("ns/p");
  EXPECT_TRUE(deletes().empty());
  EXPECT_EQ(r.requeue_after.count(), 0);
}

TEST_F(TaintEvictionTest, DeletionsAreRateLimitedPerZone) {
  fake_.put(nodesResource(), node(json::array({kUnreachable})));
  fake_.put(podsResource(), pod("a", json::array()));
  fake_.put(podsResource(), pod("b", json::array()));
  startController(1, 1);
  ASSERT_TRUE(tec_->reconcile("ns/a").error.isOk());
  auto r = tec_->reconcile("ns/b");
  EXPECT_EQ(deletes().size(), 1u);
  EXPECT_EQ(r.requeue_after, std::chrono::milliseconds(1000));
  clock_.now_ += std::chrono::seconds(1);
  ASSERT_TRUE(tec_->reconcile("ns/b").error.isOk());
  EXPECT_EQ(deletes().size(), 2u);
}

}  // namespace
}  // namespace berth::controllers
