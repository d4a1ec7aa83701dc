#include "controllers/garbage_collector.h"

#include <gtest/gtest.h>

#include "controllers/namespace_controller.h"
#include "tests/unit/controllers/fake_client.h"

namespace berth::controllers {
namespace {

using testing::Action;
using testing::FakeClient;

const std::vector<std::string> kVerbs = {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"};
const client::Resource kPods{"", "v1", "pods", "Pod", true, kVerbs};
const client::Resource kRs{"apps", "v1", "replicasets", "ReplicaSet", true, kVerbs};
const client::Resource kDeploy{"apps", "v1", "deployments", "Deployment", true, kVerbs};
const client::Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true, kVerbs};
const client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false,
                                   {"create", "delete", "get", "list", "watch", "update"}};

json obj(const std::string& kind, const std::string& name, const std::string& uid,
         json owners = json::array()) {
  json o = {{"kind", kind},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", uid}, {"resourceVersion", "5"}}}};
  if (!owners.empty()) o["metadata"]["ownerReferences"] = owners;
  return o;
}

json ref(const std::string& api_version, const std::string& kind, const std::string& name,
         const std::string& uid, bool block = true) {
  return {{"apiVersion", api_version}, {"kind", kind}, {"name", name}, {"uid", uid},
          {"controller", true}, {"blockOwnerDeletion", block}};
}

json deletingWith(json o, const std::string& finalizer) {
  o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  o["metadata"]["finalizers"] = {finalizer};
  return o;
}

// Builds the GC over the fake once its objects are in place, and waits for its caches.
class GcTest : public ::testing::Test {
 protected:
  void startGc() {
    factory_ = std::make_unique<client::InformerFactory>(&fake_);
    GarbageCollector::Config c;
    c.resources = {kPods, kRs, kDeploy};
    gc_ = std::make_unique<GarbageCollector>(&fake_, factory_.get(), c);
    factory_->start();
    for (auto* i : factory_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
    fake_.clearActions();
  }
  void TearDown() override {
    gc_.reset();
    factory_.reset();
  }
  std::vector<Action> writes() {
    std::vector<Action> out;
    for (auto& a : fake_.actions())
      if (a.verb != "get") out.push_back(a);
    return out;
  }
  FakeClient fake_;
  std::unique_ptr<client::InformerFactory> factory_;
  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GcTest, DeletesDependentWhoseOwnerIsGoneAfterLiveCheck) {
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  auto r = gc_->reconcile("v1/pods|ns/p1");
  EXPECT_TRUE(r.error.isOk()) << r.error.toString();
  auto acts = fake_.actions();
  ASSERT_EQ(acts.size(), 2u);
  EXPECT_EQ(acts[0].verb, "get");  // the owner, live, before deciding it is gone
  EXPECT_EQ(acts[0].resource, "apps/v1/replicasets");
  EXPECT_EQ(acts[0].key, "ns/rs");
  EXPECT_EQ(acts[1].verb, "delete");
  EXPECT_EQ(acts[1].key, "ns/p1");
  EXPECT_EQ(acts[1].body["propagationPolicy"], "Background");
  EXPECT_EQ(acts[1].body["preconditions"]["uid"], "p1-uid");
}

TEST_F(GcTest, KeepsDependentWhoseOwnerIsCached) {
  fake_.put(kRs, obj("ReplicaSet", "rs", "rs-uid"));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/p1").error.isOk());
  EXPECT_TRUE(fake_.actions().empty());  // no API call at all
}

TEST_F(GcTest, KeepsDependentWhoseOwnerIsOnlyOnTheServer) {
  // The owner's informer has not seen it yet: the live GET finds it.
  fake_.put(kRs, obj("ReplicaSet", "rs", "rs-uid"), /*listed=*/false);
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/p1").error.isOk());
  EXPECT_TRUE(writes().empty());
}

TEST_F(GcTest, OwnerRecreatedWithNewUidCountsAsGone) {
  fake_.put(kRs, obj("ReplicaSet", "rs", "other-uid"));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/p1").error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "delete");
}

TEST_F(GcTest, RemovesOnlyDanglingRefsWhenAnotherOwnerLives) {
  fake_.put(kRs, obj("ReplicaSet", "rs", "rs-uid"));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid",
                       {ref("apps/v1", "ReplicaSet", "rs", "rs-uid"),
                        ref("apps/v1", "ReplicaSet", "gone", "gone-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/p1").error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "patch");
  EXPECT_EQ(w[0].key, "ns/p1");
  ASSERT_EQ(w[0].body.size(), 2u);
  EXPECT_EQ(w[0].body[0]["op"], "test");
  EXPECT_EQ(w[0].body[0]["path"], "/metadata/resourceVersion");
  EXPECT_EQ(w[0].body[1]["op"], "replace");
  ASSERT_EQ(w[0].body[1]["value"].size(), 1u);
  EXPECT_EQ(w[0].body[1]["value"][0]["uid"], "rs-uid");
}

TEST_F(GcTest, OrphanRemovesOwnerRefsThenFinalizer) {
  fake_.put(kRs, deletingWith(obj("ReplicaSet", "rs", "rs-uid"), "orphan"));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  fake_.put(kPods, obj("Pod", "p2", "p2-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  fake_.put(kPods, obj("Pod", "other", "o-uid", {ref("apps/v1", "ReplicaSet", "x", "x-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("apps/v1/replicasets|ns/rs").error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 3u);
  std::set<std::string> patched = {w[0].key, w[1].key};
  EXPECT_EQ(patched, (std::set<std::string>{"ns/p1", "ns/p2"}));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(w[i].verb, "patch");
    EXPECT_EQ(w[i].body[1]["op"], "remove");
    EXPECT_EQ(w[i].body[1]["path"], "/metadata/ownerReferences");
  }
  EXPECT_EQ(w[2].resource, "apps/v1/replicasets");  // the finalizer goes last
  EXPECT_EQ(w[2].verb, "patch");
  EXPECT_EQ(w[2].body[1]["path"], "/metadata/finalizers");
}

TEST_F(GcTest, ForegroundDeletesDependentsAndWaitsForThem) {
  fake_.put(kRs, deletingWith(obj("ReplicaSet", "rs", "rs-uid"), "foregroundDeletion"));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  fake_.put(kPods, obj("Pod", "p2", "p2-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  auto r = gc_->reconcile("apps/v1/replicasets|ns/rs");
  EXPECT_TRUE(r.error.isOk());
  EXPECT_GT(r.requeue_after.count(), 0);  // dependents still present: look again
  auto w = writes();
  ASSERT_EQ(w.size(), 2u);
  for (const auto& a : w) {
    EXPECT_EQ(a.verb, "delete");
    EXPECT_EQ(a.resource, "v1/pods");
    EXPECT_EQ(a.body["propagationPolicy"], "Background");
  }
}

TEST_F(GcTest, ForegroundRemovesFinalizerWhenNoBlockingDependentRemains) {
  fake_.put(kRs, deletingWith(obj("ReplicaSet", "rs", "rs-uid"), "foregroundDeletion"));
  // A dependent that does not block: deleted, but not waited for.
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid", false)}));
  startGc();
  auto r = gc_->reconcile("apps/v1/replicasets|ns/rs");
  EXPECT_TRUE(r.error.isOk());
  EXPECT_EQ(r.requeue_after.count(), 0);
  auto w = writes();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].verb, "delete");
  EXPECT_EQ(w[1].verb, "patch");
  EXPECT_EQ(w[1].key, "ns/rs");
  EXPECT_EQ(w[1].body[1]["op"], "remove");
  EXPECT_EQ(w[1].body[1]["path"], "/metadata/finalizers");
}

TEST_F(GcTest, ForegroundPropagatesToDependentsWithBlockingDependents) {
  fake_.put(kDeploy, deletingWith(obj("Deployment", "d", "d-uid"), "foregroundDeletion"));
  fake_.put(kRs, obj("ReplicaSet", "rs", "rs-uid", {ref("apps/v1", "Deployment", "d", "d-uid")}));
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")}));
  startGc();
  auto r = gc_->reconcile("apps/v1/deployments|ns/d");
  EXPECT_TRUE(r.error.isOk());
  auto w = writes();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].verb, "delete");
  EXPECT_EQ(w[0].key, "ns/rs");
  EXPECT_EQ(w[0].body["propagationPolicy"], "Foreground");
}

TEST_F(GcTest, DependentBeingDeletedIsNotDeletedAgainButStillBlocks) {
  fake_.put(kRs, deletingWith(obj("ReplicaSet", "rs", "rs-uid"), "foregroundDeletion"));
  json p = obj("Pod", "p1", "p1-uid", {ref("apps/v1", "ReplicaSet", "rs", "rs-uid")});
  p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  fake_.put(kPods, p);
  startGc();
  auto r = gc_->reconcile("apps/v1/replicasets|ns/rs");
  EXPECT_GT(r.requeue_after.count(), 0);
  EXPECT_TRUE(writes().empty());
}

TEST_F(GcTest, UnknownOwnerKindIsNeverCalledGone) {
  fake_.put(kPods, obj("Pod", "p1", "p1-uid", {ref("example.com/v1", "Widget", "w", "w-uid")}));
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/p1").error.isOk());
  EXPECT_TRUE(fake_.actions().empty());
}

TEST_F(GcTest, MissingObjectIsANoOp) {
  startGc();
  EXPECT_TRUE(gc_->reconcile("v1/pods|ns/nope").error.isOk());
  EXPECT_TRUE(gc_->reconcile("garbage").error.isOk());
  EXPECT_TRUE(fake_.actions().empty());
}

// Namespace controller over the same fake.
TEST(NamespaceControllerTest, DeletesContentAndWaitsThenFinalizes) {
  FakeClient fake;
  json ns = {{"metadata", {{"name", "ns"}, {"uid", "ns-uid"}, {"deletionTimestamp", "2026-01-01T00:00:00Z"}}},
             {"spec", {{"finalizers", {"kubernetes"}}}}};
  fake.put(kNamespaces, ns);
  fake.put(kConfigMaps, obj("ConfigMap", "c1", "c1-uid"));
  client::InformerFactory factory(&fake);
  NamespaceController::Config c;
  c.resources = {kPods, kConfigMaps, kNamespaces};
  NamespaceController nc(&fake, &factory, c);
  factory.start();
  for (auto* i : factory.informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  fake.clearActions();
  auto r = nc.reconcile("ns");
  EXPECT_TRUE(r.error.isOk());
  EXPECT_TRUE(r.requeue);  // a configmap is still listed
  int collections = 0;
  for (const auto& a : fake.actions()) {
    EXPECT_NE(a.verb, "update/finalize");
    if (a.verb == "deletecollection") ++collections;
  }
  EXPECT_EQ(collections, 2);

  // Once empty: finalize with spec.finalizers emptied.
  FakeClient empty;
  empty.put(kNamespaces, ns);
  client::InformerFactory f2(&empty);
  NamespaceController nc2(&empty, &f2, c);
  f2.start();
  for (auto* i : f2.informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  auto r2 = nc2.reconcile("ns");
  EXPECT_TRUE(r2.error.isOk());
  EXPECT_FALSE(r2.requeue);
  bool finalized = false;
  for (const auto& a : empty.actions())
    if (a.verb == "update/finalize") {
      finalized = true;
      EXPECT_TRUE(a.body["spec"]["finalizers"].empty());
    }
  EXPECT_TRUE(finalized);
}

TEST(NamespaceControllerTest, IgnoresLiveNamespace) {
  FakeClient fake;
  fake.put(kNamespaces, {{"metadata", {{"name", "live"}}}, {"spec", {{"finalizers", {"kubernetes"}}}}});
  client::InformerFactory factory(&fake);
  NamespaceController::Config c;
  c.resources = {kConfigMaps, kNamespaces};
  NamespaceController nc(&fake, &factory, c);
  factory.start();
  for (auto* i : factory.informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  fake.clearActions();
  EXPECT_TRUE(nc.reconcile("live").error.isOk());
  EXPECT_TRUE(fake.actions().empty());
}

}  // namespace
}  // namespace berth::controllers
