#include "controllers/deployment_controller.h"

#include <gtest/gtest.h>

#include "controllers/replicaset_controller.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using testing::Action;
using testing::FakeClient;
using testing::SettableClock;

// A fake that also applies writes to its store, so the next controller built on it (fresh
// informers list again) sees them, as the real server and informers would.
class ApplyingFake : public FakeClient {
 public:
  Result<json> create(const client::Resource& r, const std::string& ns, const json& obj) override {
    (void)FakeClient::create(r, ns, obj);
    json o = obj;
    std::string name = o["metadata"].value("name", "");
    if (FakeClient::get(r, ns, name).isOk()) return alreadyExists(name + " already exists");
    o["metadata"]["uid"] = name + "-uid";
    o["metadata"]["generation"] = 1;
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    char ts[32];
    snprintf(ts, sizeof ts, "2026-01-01T00:%02d:00Z", static_cast<int>(rv_ % 60));
    o["metadata"]["creationTimestamp"] = ts;
    put(r, o);
    return o;
  }
  Result<json> update(const client::Resource& r, const std::string& ns, const std::string& name,
                      const json& obj, const std::string& sub) override {
    (void)FakeClient::update(r, ns, name, obj, sub);
    auto cur = FakeClient::get(r, ns, name);
    if (!cur.isOk()) return cur.status();
    json o = *cur;
    if (sub == "status") {
      o["status"] = obj["status"];
    } else {
      json st = o.contains("status") ? o["status"] : json();
      if (o["spec"] != obj["spec"]) o["metadata"]["generation"] = o["metadata"].value("generation", 1) + 1;
      json gen = o["metadata"]["generation"];
      o = obj;
      o["metadata"]["generation"] = gen;
      if (!st.is_null()) o["status"] = st;
    }
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    put(r, o);
    return o;
  }
  Result<json> patch(const client::Resource& r, const std::string& ns, const std::string& name,
                     client::PatchType type, const json& p) override {
    (void)FakeClient::patch(r, ns, name, type, p);
    auto cur = FakeClient::get(r, ns, name);
    if (!cur.isOk()) return cur.status();
    json o = *cur;
    if (type == client::PatchType::kJson) o = o.patch(p);
    else o.merge_patch(p);
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    put(r, o);
    return o;
  }
  Result<json> remove(const client::Resource& r, const std::string& ns, const std::string& name,
                      const json& options) override {
    (void)FakeClient::remove(r, ns, name, options);
    auto cur = FakeClient::get(r, ns, name);
    if (!cur.isOk()) return cur.status();
    put(r, *cur, /*listed=*/false);
    return json::object();
  }

 private:
  int rv_ = 100;
};

json deployObj(int replicas, const std::string& image, json strategy = nullptr) {
  if (strategy.is_null())
    strategy = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 1}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", "web"}, {"namespace", "ns"}, {"uid", "web-uid"}, {"generation", 1},
            {"resourceVersion", "1"}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}}},
            {"strategy", strategy},
            {"revisionHistoryLimit", 10},
            {"progressDeadlineSeconds", 600}}}};
}

class DeployTest : public ::testing::Test {
 protected:
  // Builds a controller over the fake's current objects (fresh caches), reconciles once.
  ReconcileResult step(bool expect_ok = true) {
    client::InformerFactory factory(&fake_);
    DeploymentController::Config c;
    c.clock = &clock_;
    DeploymentController dc(&fake_, &factory, c);
    factory.start();
    for (auto* i : factory.informers()) EXPECT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
    auto r = dc.reconcile("ns/web");
    if (expect_ok) {
      EXPECT_TRUE(r.error.isOk()) << r.error.toString();
    }
    return r;
  }
  std::vector<Action> actions(const std::string& verb, const std::string& resource = "") {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb == verb && (resource.empty() || a.resource == resource)) out.push_back(a);
    return out;
  }
  json deployment() { return *fake_.get(deploymentsResource(), "ns", "web"); }
  std::vector<json> replicaSets() {
    auto l = fake_.list(replicaSetsResource(), "ns", {});
    std::vector<json> out;
    for (const auto& i : (*l)["items"]) out.push_back(i);
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
      return std::stoi(a["metadata"]["annotations"].value(kRevisionAnnotation, "0")) <
             std::stoi(b["metadata"]["annotations"].value(kRevisionAnnotation, "0"));
    });
    return out;
  }
  json rsByRevision(int rev) {
    for (auto& rs : replicaSets())
      if (rs["metadata"]["annotations"].value(kRevisionAnnotation, "") == std::to_string(rev)) return rs;
    return nullptr;
  }
  // Every pod the ReplicaSets ask for is created and becomes available.
  void podsBecomeAvailable() {
    for (auto rs : replicaSets()) {
      int64_t n = rs["spec"]["replicas"];
      rs["status"] = {{"replicas", n}, {"readyReplicas", n}, {"availableReplicas", n},
                      {"fullyLabeledReplicas", n}, {"observedGeneration", rs["metadata"]["generation"]}};
      fake_.put(replicaSetsResource(), rs);
    }
  }
  // Old pods go away at once (scale-downs take effect), new pods are created but not ready.
  void podsCreatedNotReady() {
    for (auto rs : replicaSets()) {
      int64_t n = rs["spec"]["replicas"];
      int64_t avail = std::min<int64_t>(n, rs.contains("status") ? rs["status"].value("availableReplicas", 0) : 0);
      rs["status"] = {{"replicas", n}, {"readyReplicas", avail}, {"availableReplicas", avail},
                      {"observedGeneration", rs["metadata"]["generation"]}};
      fake_.put(replicaSetsResource(), rs);
    }
  }
  void changeTemplate(const std::string& image) {
    json d = deployment();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    d["metadata"]["generation"] = d["metadata"]["generation"].get<int>() + 1;
    fake_.put(deploymentsResource(), d);
  }
  const json* cond(const json& d, const std::string& type) {
    for (const auto& c : d["status"]["conditions"])
      if (c["type"] == type) return &c;
    return nullptr;
  }
  // What `kubectl rollout status` checks.
  bool rolledOut() {
    json d = deployment();
    const json& s = d["status"];
    if (!s.is_object()) return false;
    return s.value("observedGeneration", 0) >= d["metadata"]["generation"].get<int>() &&
           s.value("updatedReplicas", 0) >= d["spec"]["replicas"].get<int>() &&
           s.value("replicas", 0) <= s.value("updatedReplicas", 0) &&
           s.value("availableReplicas", 0) >= s.value("updatedReplicas", 0);
  }
  void rollOutFully() {
    for (int i = 0; i < 20 && !rolledOut(); ++i) {
      step();
      podsBecomeAvailable();
    }
    step();
    ASSERT_TRUE(rolledOut()) << deployment().dump(2);
  }

  SettableClock clock_{"2026-01-01T01:00:00Z"};
  ApplyingFake fake_;
};

TEST(DeploymentHelpers, HashIsStableAndTemplateSensitive) {
  json t = {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", json::array()}}}};
  std::string h = DeploymentController::podTemplateHash(t, std::nullopt);
  EXPECT_EQ(h, DeploymentController::podTemplateHash(t, std::nullopt));
  EXPECT_FALSE(h.empty());
  EXPECT_EQ(h.find_first_of("aeiou013"), std::string::npos);
  json t2 = t;
  t2["spec"]["containers"].push_back({{"name", "x"}});
  EXPECT_NE(h, DeploymentController::podTemplateHash(t2, std::nullopt));
  EXPECT_NE(h, DeploymentController::podTemplateHash(t, 1));
}

TEST(DeploymentHelpers, FencepostsRoundSurgeUpAndUnavailableDown) {
  json d = deployObj(10, "x", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}});
  int64_t s, u;
  DeploymentController::resolveFenceposts(d, &s, &u);
  EXPECT_EQ(s, 3);
  EXPECT_EQ(u, 2);
  d["spec"]["strategy"]["rollingUpdate"] = {{"maxSurge", 0}, {"maxUnavailable", 0}};
  DeploymentController::resolveFenceposts(d, &s, &u);
  EXPECT_EQ(u, 1);
  d["spec"]["strategy"] = {{"type", "Recreate"}};
  DeploymentController::resolveFenceposts(d, &s, &u);
  EXPECT_EQ(s + u, 0);
}

TEST_F(DeployTest, CreatesReplicaSetWithHashAndRevision1ThenCompletes) {
  fake_.put(deploymentsResource(), deployObj(4, "nginx:1"));
  step();
  auto creates = actions("create", "apps/v1/replicasets");
  ASSERT_EQ(creates.size(), 1u);
  const json& rs = creates[0].body;
  std::string hash = rs["metadata"]["labels"][kPodTemplateHashLabel];
  EXPECT_EQ(hash, DeploymentController::podTemplateHash(deployObj(4, "nginx:1")["spec"]["template"], std::nullopt));
  EXPECT_EQ(rs["metadata"]["name"], "web-" + hash);
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"][kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs["spec"]["selector"]["matchLabels"]["app"], "web");
  EXPECT_EQ(rs["spec"]["template"]["metadata"]["labels"][kPodTemplateHashLabel], hash);
  EXPECT_EQ(rs["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1");
  EXPECT_EQ(rs["spec"]["replicas"], 4);
  EXPECT_EQ(rs["metadata"]["annotations"][kRevisionAnnotation], "1");
  EXPECT_EQ(rs["metadata"]["annotations"][kDesiredReplicasAnnotation], "4");
  EXPECT_EQ(rs["metadata"]["annotations"][kMaxReplicasAnnotation], "5");
  const json& ref = rs["metadata"]["ownerReferences"][0];
  EXPECT_EQ(ref["kind"], "Deployment");
  EXPECT_EQ(ref["uid"], "web-uid");
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  json d = deployment();
  EXPECT_EQ(d["metadata"]["annotations"][kRevisionAnnotation], "1");
  EXPECT_EQ(d["status"]["observedGeneration"], 1);
  ASSERT_NE(cond(d, "Progressing"), nullptr);
  EXPECT_EQ((*cond(d, "Progressing"))["reason"], "NewReplicaSetCreated");
  EXPECT_FALSE(rolledOut());

  // Nothing more to do until pods are available; then the rollout completes.
  step();
  EXPECT_TRUE(actions("create").empty());
  podsBecomeAvailable();
  step();
  d = deployment();
  EXPECT_TRUE(rolledOut());
  EXPECT_EQ(d["status"]["updatedReplicas"], 4);
  EXPECT_EQ(d["status"]["availableReplicas"], 4);
  EXPECT_EQ(d["status"]["unavailableReplicas"], 0);
  EXPECT_EQ((*cond(d, "Progressing"))["reason"], "NewReplicaSetAvailable");
  EXPECT_EQ((*cond(d, "Progressing"))["status"], "True");
  EXPECT_EQ((*cond(d, "Available"))["status"], "True");
  EXPECT_EQ((*cond(d, "Available"))["reason"], "MinimumReplicasAvailable");
  // Steady state: no writes at all.
  step();
  for (const auto& a : fake_.actions()) EXPECT_EQ(a.verb, "get") << a.verb << " " << a.key;
}

TEST_F(DeployTest, TemplateChangeRollsWithinSurgeAndUnavailable) {
  fake_.put(deploymentsResource(), deployObj(4, "nginx:1"));
  rollOutFully();
  changeTemplate("nginx:2");

  // Step 1: revision 2 is created with the one surge pod; one old pod may go (maxUnavailable 1).
  step();
  json rs1 = rsByRevision(1), rs2 = rsByRevision(2);
  ASSERT_FALSE(rs2.is_null());
  EXPECT_EQ(rs2["spec"]["replicas"], 1);
  EXPECT_EQ(rs2["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
  EXPECT_EQ(rs1["spec"]["replicas"], 3);
  EXPECT_EQ(deployment()["metadata"]["annotations"][kRevisionAnnotation], "2");
  EXPECT_EQ((*cond(deployment(), "Progressing"))["reason"], "NewReplicaSetCreated");

  // New pods not ready: the new RS may grow to the surge limit, old ones must not shrink.
  podsCreatedNotReady();
  step();
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 2);
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 3);
  podsCreatedNotReady();
  step();
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 2);
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 3);
  EXPECT_TRUE(actions("update", "apps/v1/replicasets").empty());

  // Pods become available step by step; the bounds hold at every step.
  int steps = 0;
  while (!rolledOut() && steps++ < 20) {
    podsBecomeAvailable();
    step();
    int64_t total = 0, available = 0;
    for (const auto& rs : replicaSets()) {
      total += rs["spec"]["replicas"].get<int64_t>();
      available += std::min(rs["spec"]["replicas"].get<int64_t>(),
                            rs["status"].value("availableReplicas", int64_t{0}));
    }
    EXPECT_LE(total, 5) << "maxSurge exceeded at step " << steps;
    EXPECT_GE(available, 3) << "maxUnavailable exceeded at step " << steps;
  }
  EXPECT_TRUE(rolledOut());
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 4);
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 0);
  json d = deployment();
  EXPECT_EQ(d["status"]["updatedReplicas"], 4);
  EXPECT_EQ(d["status"]["replicas"], 4);
  EXPECT_EQ((*cond(d, "Progressing"))["reason"], "NewReplicaSetAvailable");
}

TEST_F(DeployTest, UndoReusesOldReplicaSetWithNextRevision) {
  fake_.put(deploymentsResource(), deployObj(2, "nginx:1"));
  rollOutFully();
  std::string first = rsByRevision(1)["metadata"]["name"];
  changeTemplate("nginx:2");
  rollOutFully();
  ASSERT_EQ(replicaSets().size(), 2u);
  changeTemplate("nginx:1");  // what `kubectl rollout undo` patches in
  step();
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
  json rs = rsByRevision(3);
  ASSERT_FALSE(rs.is_null());
  EXPECT_EQ(rs["metadata"]["name"], first);
  EXPECT_EQ(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");
  EXPECT_TRUE(rsByRevision(1).is_null());
  EXPECT_EQ(deployment()["metadata"]["annotations"][kRevisionAnnotation], "3");
  rollOutFully();
  EXPECT_EQ(rsByRevision(3)["spec"]["replicas"], 2);
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 0);
}

TEST_F(DeployTest, RecreateScalesOldToZeroWaitsForPodsThenCreates) {
  fake_.put(deploymentsResource(), deployObj(3, "nginx:1", {{"type", "Recreate"}}));
  rollOutFully();
  changeTemplate("nginx:2");
  step();
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 0);
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
  // Old pods still running (RS status and a pod in the cache): no new RS yet.
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"},
              {"metadata", {{"name", "old-pod"}, {"namespace", "ns"}, {"uid", "old-pod-uid"},
                            {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                                                  {"name", rsByRevision(1)["metadata"]["name"]},
                                                  {"uid", rsByRevision(1)["metadata"]["uid"]},
                                                  {"controller", true}}}}}},
              {"status", {{"phase", "Running"}}}};
  fake_.put(podsResource(), pod);
  podsBecomeAvailable();  // old RS status now says 0 replicas
  step();
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
  pod["status"]["phase"] = "Succeeded";
  fake_.put(podsResource(), pod);
  step();
  auto creates = actions("create", "apps/v1/replicasets");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_EQ(creates[0].body["spec"]["replicas"], 3);
  EXPECT_EQ(creates[0].body["metadata"]["annotations"][kRevisionAnnotation], "2");
  rollOutFully();
}

TEST_F(DeployTest, CleansUpOldReplicaSetsBeyondHistoryLimit) {
  json d = deployObj(1, "v1");
  d["spec"]["revisionHistoryLimit"] = 1;
  fake_.put(deploymentsResource(), d);
  rollOutFully();
  changeTemplate("v2");
  rollOutFully();
  changeTemplate("v3");
  rollOutFully();
  // After v3 is complete, only one old ReplicaSet (v2, the newest old one) is kept.
  auto rss = replicaSets();
  ASSERT_EQ(rss.size(), 2u);
  EXPECT_EQ(rss[0]["metadata"]["annotations"][kRevisionAnnotation], "2");
  EXPECT_EQ(rss[1]["metadata"]["annotations"][kRevisionAnnotation], "3");
}

TEST_F(DeployTest, PausedDoesNotRollOutButScales) {
  fake_.put(deploymentsResource(), deployObj(2, "nginx:1"));
  rollOutFully();
  json d = deployment();
  d["spec"]["paused"] = true;
  d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2";
  d["spec"]["replicas"] = 5;
  d["metadata"]["generation"] = 2;
  fake_.put(deploymentsResource(), d);
  step();
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
  // No rollout while paused; the only active ReplicaSet takes the new size (as upstream).
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 5);
  EXPECT_EQ(rsByRevision(1)["metadata"]["annotations"][kDesiredReplicasAnnotation], "5");
  EXPECT_EQ((*cond(deployment(), "Progressing"))["reason"], "DeploymentPaused");
  EXPECT_EQ(replicaSets().size(), 1u);
  // Resumed: the rollout starts.
  d = deployment();
  d["spec"].erase("paused");
  fake_.put(deploymentsResource(), d);
  step();
  EXPECT_EQ(replicaSets().size(), 2u);
  EXPECT_EQ((*cond(deployment(), "Progressing"))["reason"], "NewReplicaSetCreated");
}

TEST_F(DeployTest, ScalingMidRolloutIsProportional) {
  fake_.put(deploymentsResource(), deployObj(4, "nginx:1"));
  rollOutFully();
  changeTemplate("nginx:2");
  step();
  podsCreatedNotReady();
  step();
  ASSERT_EQ(rsByRevision(1)["spec"]["replicas"], 3);
  ASSERT_EQ(rsByRevision(2)["spec"]["replicas"], 2);
  podsCreatedNotReady();
  json d = deployment();
  d["spec"]["replicas"] = 8;  // allowed 8+1: 4 more, shared 3:2 by size
  fake_.put(deploymentsResource(), d);
  step();
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 5);
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 4);
  EXPECT_EQ(rsByRevision(2)["metadata"]["annotations"][kMaxReplicasAnnotation], "9");
  // The rollout then carries on to 8 new replicas.
  rollOutFully();
  EXPECT_EQ(rsByRevision(2)["spec"]["replicas"], 8);
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 0);
}

TEST_F(DeployTest, ScaleDownCompleteDeployment) {
  fake_.put(deploymentsResource(), deployObj(4, "nginx:1"));
  rollOutFully();
  json d = deployment();
  d["spec"]["replicas"] = 2;
  fake_.put(deploymentsResource(), d);
  step();
  EXPECT_EQ(rsByRevision(1)["spec"]["replicas"], 2);
  podsBecomeAvailable();
  step();
  EXPECT_TRUE(rolledOut());
}

TEST_F(DeployTest, CacheBehindItsOwnCreateDoesNotCreateTwice) {
  fake_.put(deploymentsResource(), deployObj(2, "nginx:1"));
  step();
  json rs = replicaSets().at(0);
  fake_.put(replicaSetsResource(), rs, /*listed=*/false);  // the informer has not seen it
  auto r = step(/*expect_ok=*/false);
  EXPECT_FALSE(r.error.isOk());  // retried once the cache catches up
  EXPECT_EQ(actions("create", "apps/v1/replicasets").size(), 1u);  // the attempt, refused
  EXPECT_FALSE(deployment()["status"].contains("collisionCount"));
  fake_.put(replicaSetsResource(), rs);
  step();
  EXPECT_TRUE(actions("create", "apps/v1/replicasets").empty());
}

TEST_F(DeployTest, HashCollisionRaisesCollisionCount) {
  fake_.put(deploymentsResource(), deployObj(2, "nginx:1"));
  std::string hash =
      DeploymentController::podTemplateHash(deployObj(2, "nginx:1")["spec"]["template"], std::nullopt);
  json other = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                {"metadata", {{"name", "web-" + hash}, {"namespace", "ns"}, {"uid", "x"}}},
                {"spec", {{"replicas", 0}, {"selector", {{"matchLabels", {{"app", "other"}}}}}}}};
  fake_.put(replicaSetsResource(), other);
  EXPECT_FALSE(step(false).error.isOk());
  EXPECT_EQ(deployment()["status"]["collisionCount"], 1);
  step();
  auto creates = actions("create", "apps/v1/replicasets");
  ASSERT_EQ(creates.size(), 1u);
  EXPECT_NE(creates[0].body["metadata"]["name"], "web-" + hash);
}

TEST_F(DeployTest, ProgressDeadlineExceeded) {
  fake_.put(deploymentsResource(), deployObj(2, "nginx:1"));
  auto r = step();
  EXPECT_GT(r.requeue_after.count(), 0);  // looks again by the deadline
  step();
  EXPECT_FALSE(rolledOut());
  clock_.now_ += std::chrono::minutes(11);
  step();
  json d = deployment();
  const json* c = cond(d, "Progressing");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["reason"], "ProgressDeadlineExceeded");
  EXPECT_EQ((*c)["status"], "False");
  // Progress resumes once pods become available.
  podsBecomeAvailable();
  step();
  EXPECT_EQ((*cond(deployment(), "Progressing"))["reason"], "NewReplicaSetAvailable");
}

}  // namespace
}  // namespace berth::controllers
