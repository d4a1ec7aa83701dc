// Scheduler algorithm tests: a SchedulerCache filled with fake nodes and pods, then filters,
// scores and node selection as one scheduling attempt runs them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "controllers/scheduler/filters.h"
#include "controllers/scheduler/scheduling_queue.h"
#include "controllers/scheduler/scoring.h"

namespace berth::controllers::scheduler {
namespace {

using namespace std::chrono_literals;

json node(const std::string& name, const std::string& zone, const std::string& cpu = "4",
          const std::string& memory = "8Gi", const std::string& pods = "110") {
  return {{"kind", "Node"},
          {"metadata",
           {{"name", name},
            {"labels", {{kLabelHostname, name}, {kLabelZone, zone}, {"disk", "ssd"}, {"gen", "5"}}}}},
          {"spec", json::object()},
          {"status",
           {{"allocatable", {{"cpu", cpu}, {"memory", memory}, {"pods", pods}}},
            {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
}

json pod(const std::string& name, const std::string& cpu = "", const std::string& memory = "") {
  json c = {{"name", "c"}, {"image", "x"}};
  if (!cpu.empty()) c["resources"]["requests"]["cpu"] = cpu;
  if (!memory.empty()) c["resources"]["requests"]["memory"] = memory;
  return {{"kind", "Pod"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", "uid-" + name},
                        {"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", {c}}}},
          {"status", {{"phase", "Pending"}}}};
}

json owned(json p, const std::string& owner_uid) {
  p["metadata"]["ownerReferences"] = {
      {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "rs"}, {"uid", owner_uid},
       {"controller", true}}};
  return p;
}

std::shared_ptr<const json> ptr(json j) { return std::make_shared<const json>(std::move(j)); }

class SchedulerAlgorithmTest : public ::testing::Test {
 protected:
  void addNode(json n) { cache_.upsertNode(ptr(std::move(n))); }
  void addNodes3() {
    addNode(node("n1", "local-1a"));
    addNode(node("n2", "local-1b"));
    addNode(node("n3", "local-1c"));
  }
  void bindPod(json p, const std::string& node_name) {
    p["spec"]["nodeName"] = node_name;
    cache_.upsertPod(ptr(std::move(p)));
  }
  // One scheduling attempt; on success assumes the pod as the scheduler does.
  ScheduleResult schedule(const json& p) {
    auto lock = cache_.lock();
    auto ctx = PodContext::build(parsePod(ptr(p)), cache_);
    EXPECT_TRUE(ctx.isOk()) << ctx.status().toString();
    if (!ctx.isOk()) return {};
    ScheduleResult r = selector_.select(*ctx, cache_);
    if (!r.node.empty()) cache_.assumeLocked(ctx->pod, r.node);
    return r;
  }
  std::map<std::string, int> zones(const std::vector<std::string>& nodes) {
    std::map<std::string, int> out;
    for (const auto& n : nodes) {
      auto lock = cache_.lock();
      ++out[*cache_.nodeLocked(n)->label(kLabelZone)];
    }
    return out;
  }

  SchedulerCache cache_;
  NodeSelector selector_{42};
};

TEST_F(SchedulerAlgorithmTest, ReplicasSpreadEvenlyOverZones) {
  addNodes3();
  std::vector<std::string> placed;
  for (int i = 0; i < 6; ++i)
    placed.push_back(schedule(owned(pod("p" + std::to_string(i), "100m"), "rs1")).node);
  EXPECT_EQ(zones(placed), (std::map<std::string, int>{{"local-1a", 2}, {"local-1b", 2}, {"local-1c", 2}}));
  for (int i = 6; i < 9; ++i)
    placed.push_back(schedule(owned(pod("p" + std::to_string(i), "100m"), "rs1")).node);
  EXPECT_EQ(zones(placed), (std::map<std::string, int>{{"local-1a", 3}, {"local-1b", 3}, {"local-1c", 3}}));
}

TEST_F(SchedulerAlgorithmTest, SpreadingOutweighsAnUnevenlyLoadedCluster) {
  addNodes3();
  // Another workload fills n1 a little: the spread still evens out this controller's pods.
  bindPod(pod("other", "1"), "n1");
  std::vector<std::string> placed;
  for (int i = 0; i < 6; ++i)
    placed.push_back(schedule(owned(pod("p" + std::to_string(i), "100m"), "rs1")).node);
  EXPECT_EQ(zones(placed), (std::map<std::string, int>{{"local-1a", 2}, {"local-1b", 2}, {"local-1c", 2}}));
}

TEST_F(SchedulerAlgorithmTest, ZoneSpreadWithSeveralNodesPerZone) {
  for (const char* z : {"a", "b", "c"})
    for (int i = 0; i < 3; ++i) addNode(node(std::string("n") + z + std::to_string(i), std::string("local-1") + z));
  std::vector<std::string> placed;
  for (int i = 0; i < 9; ++i)
    placed.push_back(schedule(owned(pod("p" + std::to_string(i)), "rs1")).node);
  EXPECT_EQ(zones(placed), (std::map<std::string, int>{{"local-1a", 3}, {"local-1b", 3}, {"local-1c", 3}}));
  std::set<std::string> distinct(placed.begin(), placed.end());
  EXPECT_EQ(distinct.size(), 9u);  // hostname spreading too
}

TEST_F(SchedulerAlgorithmTest, ZoneSpreadFollowsARelabelledNodeAndSkipsUnlabelledOnes) {
  addNodes3();
  // n3 moves to local-1a, and n4 joins without any zone label: the zone is read from the
  // node's current labels, and a node lacking the key is scored last, as upstream.
  addNode(node("n3", "local-1a"));
  json bare = node("n4", "local-1b");
  bare["metadata"]["labels"].erase(kLabelZone);
  addNode(bare);
  {
    auto lock = cache_.lock();
    EXPECT_EQ(*cache_.nodeLocked("n3")->label(kLabelZone), "local-1a");
    EXPECT_EQ(cache_.nodeLocked("n4")->label(kLabelZone), nullptr);
    EXPECT_EQ(*cache_.nodeLocked("n4")->label(kLabelHostname), "n4");
    EXPECT_EQ(*cache_.nodeLocked("n4")->label("disk"), "ssd");
  }
  std::vector<std::string> placed;
  for (int i = 0; i < 4; ++i)
    placed.push_back(schedule(owned(pod("p" + std::to_string(i), "100m"), "rs1")).node);
  EXPECT_EQ(zones(placed), (std::map<std::string, int>{{"local-1a", 2}, {"local-1b", 2}}));
  EXPECT_EQ(std::count(placed.begin(), placed.end(), "n4"), 0);
}

TEST_F(SchedulerAlgorithmTest, InsufficientCpuMessageCountsNodes) {
  addNodes3();
  ScheduleResult r = schedule(pod("big", "100"));
  EXPECT_EQ(r.node, "");
  EXPECT_EQ(r.message, "0/3 nodes are available: 3 Insufficient cpu.");
}

TEST_F(SchedulerAlgorithmTest, NoNodesMessage) {
  EXPECT_EQ(schedule(pod("p")).message, "no nodes available to schedule pods");
}

TEST_F(SchedulerAlgorithmTest, AssumedPodsCountBeforeTheInformerCatchesUp) {
  addNode(node("n1", "local-1a", "1"));
  EXPECT_EQ(schedule(pod("a", "600m")).node, "n1");
  // Nothing confirmed the first pod, yet its 600m are taken.
  EXPECT_EQ(schedule(pod("b", "600m")).message, "0/1 nodes are available: 1 Insufficient cpu.");
  // A failed bind gives the resources back.
  cache_.forget("ns/a");
  EXPECT_EQ(schedule(pod("b", "600m")).node, "n1");
}

TEST_F(SchedulerAlgorithmTest, InformerConfirmationReplacesAssumptionWithoutDoubleCounting) {
  addNode(node("n1", "local-1a", "1"));
  ASSERT_EQ(schedule(pod("a", "400m")).node, "n1");
  bindPod(pod("a", "400m"), "n1");
  cache_.forget("ns/a");  // no-op once confirmed
  EXPECT_EQ(schedule(pod("b", "600m")).node, "n1");
  EXPECT_EQ(schedule(pod("c", "1m")).message, "0/1 nodes are available: 1 Insufficient cpu.");
  // A terminated pod frees its requests.
  json done = pod("a", "400m");
  done["spec"]["nodeName"] = "n1";
  done["status"]["phase"] = "Succeeded";
  cache_.upsertPod(ptr(done));
  EXPECT_EQ(schedule(pod("c", "300m")).node, "n1");
}

TEST_F(SchedulerAlgorithmTest, MemoryPodsAndEphemeralStorage) {
  json n = node("n1", "local-1a", "4", "1Gi", "2");
  n["status"]["allocatable"]["ephemeral-storage"] = "10Gi";
  addNode(n);
  EXPECT_EQ(schedule(pod("m", "", "2Gi")).message, "0/1 nodes are available: 1 Insufficient memory.");
  json e = pod("e");
  e["spec"]["containers"][0]["resources"]["requests"]["ephemeral-storage"] = "20Gi";
  EXPECT_EQ(schedule(e).message, "0/1 nodes are available: 1 Insufficient ephemeral-storage.");
  EXPECT_EQ(schedule(pod("a")).node, "n1");
  EXPECT_EQ(schedule(pod("b")).node, "n1");
  EXPECT_EQ(schedule(pod("c")).message, "0/1 nodes are available: 1 Too many pods.");
}

TEST_F(SchedulerAlgorithmTest, LimitsStandInForMissingRequestsAndInitContainersTakeTheMax) {
  addNode(node("n1", "local-1a", "2"));
  json p = pod("p");
  p["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "3";
  EXPECT_EQ(schedule(p).message, "0/1 nodes are available: 1 Insufficient cpu.");
  json q = pod("q", "500m");
  q["spec"]["initContainers"] = {{{"name", "init"}, {"resources", {{"requests", {{"cpu", "1500m"}}}}}}};
  Resources r = podRequests(q["spec"], false);
  EXPECT_EQ(r.milli_cpu, 1500);
  q["spec"]["initContainers"][0]["restartPolicy"] = "Always";  // a sidecar adds up
  EXPECT_EQ(podRequests(q["spec"], false).milli_cpu, 2000);
}

TEST_F(SchedulerAlgorithmTest, NodeSelectorAndRequiredNodeAffinity) {
  addNodes3();
  json p = pod("p");
  p["spec"]["nodeSelector"] = {{kLabelZone, "local-1b"}};
  EXPECT_EQ(schedule(p).node, "n2");

  auto withTerm = [&](const std::string& name, json term) {
    json q = pod(name);
    q["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
     ["nodeSelectorTerms"] = {term};
    return q;
  };
  EXPECT_EQ(schedule(withTerm("in", {{"matchExpressions",
                                      {{{"key", kLabelZone}, {"operator", "In"}, {"values", {"local-1c"}}}}}}))
                .node,
            "n3");
  EXPECT_EQ(schedule(withTerm("fields", {{"matchFields",
                                          {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {"n1"}}}}}}))
                .node,
            "n1");
  json notin = withTerm("notin", {{"matchExpressions",
                                    {{{"key", kLabelZone}, {"operator", "NotIn"},
                                      {"values", {"local-1a", "local-1b"}}}}}});
  EXPECT_EQ(schedule(notin).node, "n3");
  EXPECT_EQ(schedule(withTerm("gt", {{"matchExpressions",
                                      {{{"key", "gen"}, {"operator", "Gt"}, {"values", {"7"}}}}}}))
                .message,
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.");
  EXPECT_FALSE(schedule(withTerm("lt", {{"matchExpressions",
                                         {{{"key", "gen"}, {"operator", "Lt"}, {"values", {"7"}}}}}}))
                   .node.empty());
  EXPECT_FALSE(schedule(withTerm("exists", {{"matchExpressions",
                                             {{{"key", "disk"}, {"operator", "Exists"}}}}}))
                   .node.empty());
  EXPECT_TRUE(schedule(withTerm("dne", {{"matchExpressions",
                                         {{{"key", "disk"}, {"operator", "DoesNotExist"}}}}}))
                  .node.empty());
}

TEST_F(SchedulerAlgorithmTest, TaintsAndTolerations) {
  json n = node("n1", "local-1a");
  n["spec"]["taints"] = {{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}}};
  addNode(n);
  EXPECT_EQ(schedule(pod("p")).message,
            "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.");
  json t = pod("t");
  t["spec"]["tolerations"] = {{{"key", "dedicated"}, {"operator", "Equal"}, {"value", "gpu"},
                               {"effect", "NoSchedule"}}};
  EXPECT_EQ(schedule(t).node, "n1");
  json e = pod("e");
  e["spec"]["tolerations"] = {{{"operator", "Exists"}}};
  EXPECT_EQ(schedule(e).node, "n1");
  json wrong = pod("w");
  wrong["spec"]["tolerations"] = {{{"key", "dedicated"}, {"value", "cpu"}}};
  EXPECT_FALSE(schedule(wrong).message.empty());
}

TEST_F(SchedulerAlgorithmTest, PreferNoScheduleIsAScoreNotAFilter) {
  addNodes3();
  json n = node("n1", "local-1a");
  n["spec"]["taints"] = {{{"key", "k"}, {"effect", "PreferNoSchedule"}}};
  addNode(n);
  for (int i = 0; i < 5; ++i) EXPECT_NE(schedule(pod("p" + std::to_string(i))).node, "n1");
  json only = node("n1", "local-1a");
  only["spec"]["taints"] = n["spec"]["taints"];
  SchedulerCache single;
  single.upsertNode(ptr(only));
  auto lock = single.lock();
  auto ctx = PodContext::build(parsePod(ptr(pod("x"))), single);
  EXPECT_EQ(selector_.select(*ctx, single).node, "n1");
}

TEST_F(SchedulerAlgorithmTest, UnschedulableAndNotReadyNodes) {
  json cordoned = node("n1", "local-1a");
  cordoned["spec"]["unschedulable"] = true;
  json not_ready = node("n2", "local-1b");
  not_ready["status"]["conditions"][0]["status"] = "False";
  addNode(cordoned);
  addNode(not_ready);
  EXPECT_EQ(schedule(pod("p")).message,
            "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
            "1 node(s) were unschedulable.");
  json tol = pod("t");
  tol["spec"]["tolerations"] = {{{"key", kTaintUnschedulable}, {"operator", "Exists"},
                                 {"effect", "NoSchedule"}}};
  EXPECT_EQ(schedule(tol).node, "n1");
}

TEST_F(SchedulerAlgorithmTest, HostPortConflicts) {
  addNode(node("n1", "local-1a"));
  addNode(node("n2", "local-1b"));
  auto withPort = [](const std::string& name, int port, const std::string& ip = "") {
    json p = pod(name);
    json cp = {{"containerPort", 80}, {"hostPort", port}};
    if (!ip.empty()) cp["hostIP"] = ip;
    p["spec"]["containers"][0]["ports"] = {cp};
    return p;
  };
  std::string first = schedule(withPort("a", 8080)).node;
  std::string second = schedule(withPort("b", 8080)).node;
  EXPECT_NE(first, second);
  EXPECT_EQ(schedule(withPort("c", 8080, "10.0.0.1")).message,
            "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.");
  EXPECT_FALSE(schedule(withPort("d", 9090)).node.empty());
}

TEST_F(SchedulerAlgorithmTest, RequiredPodAntiAffinityOnHostnameAndZone) {
  addNodes3();
  addNode(node("n4", "local-1a"));
  auto anti = [](const std::string& name, const std::string& key) {
    json p = pod(name);
    p["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        {{"labelSelector", {{"matchLabels", {{"app", "web"}}}}}, {"topologyKey", key}}};
    return p;
  };
  std::set<std::string> zones_used;
  for (int i = 0; i < 3; ++i) {
    std::string n = schedule(anti("z" + std::to_string(i), kLabelZone)).node;
    ASSERT_FALSE(n.empty());
    auto lock = cache_.lock();
    zones_used.insert(*cache_.nodeLocked(n)->label(kLabelZone));
  }
  EXPECT_EQ(zones_used.size(), 3u);
  EXPECT_EQ(schedule(anti("z3", kLabelZone)).message,
            "0/4 nodes are available: 4 node(s) didn't match pod anti-affinity rules.");
  // A pod without anti-affinity of its own is kept off by the existing pods' rules.
  EXPECT_EQ(schedule(pod("plain")).message,
            "0/4 nodes are available: 4 node(s) didn't satisfy existing pods anti-affinity rules.");
  json other = pod("other");
  other["metadata"]["labels"]["app"] = "db";
  EXPECT_FALSE(schedule(other).node.empty());
}

TEST_F(SchedulerAlgorithmTest, RequiredPodAffinityFollowsMatchingPods) {
  addNodes3();
  json p = pod("follower");
  p["metadata"]["labels"]["app"] = "cache";
  p["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
      {{"labelSelector", {{"matchLabels", {{"app", "db"}}}}}, {"topologyKey", kLabelZone}}};
  EXPECT_EQ(schedule(p).message,
            "0/3 nodes are available: 3 node(s) didn't match pod affinity rules.");
  json db = pod("db");
  db["metadata"]["labels"]["app"] = "db";
  bindPod(db, "n2");
  EXPECT_EQ(schedule(p).node, "n2");
}

TEST_F(SchedulerAlgorithmTest, TopologySpreadDoNotScheduleIsAFilter) {
  addNodes3();
  auto spread = [](const std::string& name) {
    json p = pod(name);
    p["spec"]["topologySpreadConstraints"] = {{{"maxSkew", 1},
                                               {"topologyKey", kLabelZone},
                                               {"whenUnsatisfiable", "DoNotSchedule"},
                                               {"labelSelector", {{"matchLabels", {{"app", "web"}}}}}}};
    return p;
  };
  // Two pods already in local-1a: with maxSkew 1 the next ones must go elsewhere.
  bindPod(pod("x1"), "n1");
  bindPod(pod("x2"), "n1");
  std::map<std::string, int> z;
  for (int i = 0; i < 4; ++i) {
    std::string n = schedule(spread("s" + std::to_string(i))).node;
    ASSERT_FALSE(n.empty());
    auto lock = cache_.lock();
    ++z[*cache_.nodeLocked(n)->label(kLabelZone)];
  }
  EXPECT_EQ(z["local-1a"], 0);
  EXPECT_EQ(z["local-1b"], 2);
  EXPECT_EQ(z["local-1c"], 2);
  // A node without the topology label is rejected with upstream's reason.
  json bare = node("bare", "x");
  bare["metadata"]["labels"].erase(kLabelZone);
  addNode(bare);
  json q = spread("q");
  q["spec"]["nodeSelector"] = {{kLabelHostname, "bare"}};
  EXPECT_EQ(schedule(q).message,
            "0/4 nodes are available: 1 node(s) didn't match pod topology spread constraints "
            "(missing required label), 3 node(s) didn't match Pod's node affinity/selector.");
}

TEST_F(SchedulerAlgorithmTest, TopologySpreadScheduleAnywayIsAScore) {
  addNodes3();
  bindPod(pod("x1"), "n1");
  bindPod(pod("x2"), "n1");
  json p = pod("s");
  p["spec"]["topologySpreadConstraints"] = {{{"maxSkew", 1},
                                             {"topologyKey", kLabelZone},
                                             {"whenUnsatisfiable", "ScheduleAnyway"},
                                             {"labelSelector", {{"matchLabels", {{"app", "web"}}}}}}};
  EXPECT_NE(schedule(p).node, "n1");
  // With only n1 left feasible it still schedules.
  p["metadata"]["name"] = "s2";
  p["spec"]["nodeSelector"] = {{kLabelHostname, "n1"}};
  EXPECT_EQ(schedule(p).node, "n1");
}

TEST_F(SchedulerAlgorithmTest, InvalidSelectorIsAClearError) {
  addNodes3();
  json p = pod("bad");
  p["spec"]["topologySpreadConstraints"] = {
      {{"maxSkew", 1}, {"topologyKey", kLabelZone}, {"whenUnsatisfiable", "DoNotSchedule"},
       {"labelSelector", {{"matchExpressions", {{{"key", "a"}, {"operator", "Bogus"}}}}}}}};
  auto lock = cache_.lock();
  auto ctx = PodContext::build(parsePod(ptr(p)), cache_);
  ASSERT_FALSE(ctx.isOk());
  EXPECT_NE(ctx.status().message().find("labelSelector"), std::string::npos) << ctx.status().message();
}

TEST(SchedulerFitError, ReasonsSortedAsUpstream) {
  EXPECT_EQ(fitErrorMessage(5, {{"Insufficient cpu", 2},
                                {"node(s) had untolerated taint {a: }", 1},
                                {"node(s) didn't match Pod's node affinity/selector", 2}}),
            "0/5 nodes are available: 1 node(s) had untolerated taint {a: }, 2 Insufficient cpu, "
            "2 node(s) didn't match Pod's node affinity/selector.");
}

TEST(SchedulerScoring, FeasibleNodesToFindFollowsUpstream) {
  EXPECT_EQ(numFeasibleNodesToFind(50), 50u);
  EXPECT_EQ(numFeasibleNodesToFind(1000), 420u);
  EXPECT_EQ(numFeasibleNodesToFind(5000), 500u);
  EXPECT_EQ(numFeasibleNodesToFind(200), 100u);
}

TEST(SchedulerScoring, LeastAllocatedAndBalanced) {
  NodeInfo n = parseNode(ptr(node("n", "z", "4", "4Gi")));
  PodInfo p = parsePod(ptr(pod("p", "1", "1Gi")));
  EXPECT_EQ(leastAllocatedScore(p, n), 75);
  EXPECT_EQ(balancedAllocationScore(p, n), 100);
  PodInfo q = parsePod(ptr(pod("q", "2", "1Gi")));
  EXPECT_EQ(leastAllocatedScore(q, n), 62);
  EXPECT_EQ(balancedAllocationScore(q, n), 87);
}

// ---- SchedulingQueue ----

class SchedulingQueueTest : public ::testing::Test {
 protected:
  SchedulingQueue::Options opts() {
    SchedulingQueue::Options o;
    o.initial_backoff = 0ms;
    o.max_backoff = 0ms;
    o.unschedulable_timeout = 300s;
    o.now = [this] { return now_; };
    return o;
  }
  SchedulingQueue::Clock::time_point now_ = SchedulingQueue::Clock::now();
};

TEST_F(SchedulingQueueTest, UnschedulablePodsWaitForAMove) {
  SchedulingQueue q(opts());
  q.add("ns/a");
  std::string key;
  uint64_t seq = 0;
  ASSERT_TRUE(q.pop(&key, &seq));
  q.markUnschedulable(key, seq);
  q.done(key);
  EXPECT_EQ(q.numActive(), 0u);
  EXPECT_TRUE(q.isUnschedulable("ns/a"));
  q.moveAllToActive();
  EXPECT_EQ(q.numActive(), 1u);
  EXPECT_FALSE(q.isUnschedulable("ns/a"));
}

TEST_F(SchedulingQueueTest, AMoveDuringTheAttemptIsNotLost) {
  SchedulingQueue q(opts());
  q.add("ns/a");
  std::string key;
  uint64_t seq = 0;
  ASSERT_TRUE(q.pop(&key, &seq));
  q.moveAllToActive();  // a node arrived while the pod was being scheduled
  q.markUnschedulable(key, seq);
  q.done(key);
  EXPECT_EQ(q.numActive(), 1u);
  EXPECT_FALSE(q.isUnschedulable("ns/a"));
}

TEST_F(SchedulingQueueTest, PeriodicFlushOnlyMovesOldPods) {
  SchedulingQueue q(opts());
  for (const char* k : {"ns/a", "ns/b"}) {
    q.add(k);
    std::string key;
    uint64_t seq = 0;
    ASSERT_TRUE(q.pop(&key, &seq));
    q.markUnschedulable(key, seq);
    q.done(key);
    now_ += 200s;
  }
  q.flushUnschedulable();  // a waited 400 s, b 200 s
  EXPECT_EQ(q.numActive(), 1u);
  EXPECT_TRUE(q.isUnschedulable("ns/b"));
}

TEST_F(SchedulingQueueTest, BackoffDelaysReturn) {
  auto o = opts();
  o.initial_backoff = 60s;
  o.max_backoff = 60s;
  SchedulingQueue q(o);
  q.add("ns/a");
  std::string key;
  uint64_t seq = 0;
  ASSERT_TRUE(q.pop(&key, &seq));
  q.markUnschedulable(key, seq);
  q.done(key);
  q.moveAllToActive();
  EXPECT_EQ(q.numActive(), 0u);  // waiting out its backoff, not in the unschedulable set
  EXPECT_FALSE(q.isUnschedulable("ns/a"));
  q.shutDown();
}

}  // namespace
}  // namespace berth::controllers::scheduler
