// Starts the real `berth server`, runs a ControllerManager against it in this process, and
// drives deletions through the REST client. Waits are on informer events (watches) with a
// deadline, never fixed sleeps.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "client/informer.h"
#include "client/rest_client.h"
#include "controllers/controller_manager.h"
#include "tests/e2e/harness.h"

namespace berth::controllers {
namespace {

using client::json;
using namespace std::chrono_literals;

const client::Resource kPods{"", "v1", "pods", "Pod", true, {}};
const client::Resource kRs{"apps", "v1", "replicasets", "ReplicaSet", true, {}};
const client::Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true, {}};
const client::Resource kNamespaces{"", "v1", "namespaces", "Namespace", false, {}};

// An informer whose every event wakes waiters; waits evaluate a predicate over its cache and
// remember the resourceVersion at which each object was deleted.
class Watcher {
 public:
  Watcher(client::Client* c, const client::Resource& r) : inf_(c, r) {
    client::EventHandlers h;
    h.on_add = [this](const client::ObjectPtr&) { poke(); };
    h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr&) { poke(); };
    h.on_delete = [this](const client::ObjectPtr& o) {
      {
        std::lock_guard<std::mutex> l(mu_);
        deleted_rv_[client::objectKey(*o)] = std::stoll((*o)["metadata"].value("resourceVersion", "0"));
      }
      poke();
    };
    inf_.addEventHandlers(h);
    inf_.start();
  }
  bool synced() { return inf_.waitForSync(30s); }
  client::Informer& informer() { return inf_; }
  bool waitUntil(const std::function<bool(client::Informer&)>& pred, std::chrono::seconds t = 60s) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, t, [&] {
      l.unlock();
      bool ok = pred(inf_);
      l.lock();
      return ok;
    });
  }
  int64_t deletedAt(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = deleted_rv_.find(key);
    return it == deleted_rv_.end() ? -1 : it->second;
  }

 private:
  void poke() {
    { std::lock_guard<std::mutex> l(mu_); }
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, int64_t> deleted_rv_;
  client::Informer inf_;
};

class ControllersIntegration : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The server's own in-process controllers are off: the manager under test does the work.
    server_ = new e2e::Server({"--controllers", "none"});
    ASSERT_TRUE(server_->ok()) << "berth server did not start";
    auto c = client::RestClient::fromKubeconfig(server_->kubeconfig());
    ASSERT_TRUE(c.isOk()) << c.status().toString();
    client_ = c->release();
    ControllerManagerOptions o;
    o.kubeconfig = server_->kubeconfig();
    // Only the controllers under test: a ReplicaSet controller would delete the pods these
    // tests give to ReplicaSets of 0 replicas.
    o.enabled = {"garbagecollector", "namespace"};
    auto cm = ControllerManager::start(o);
    ASSERT_TRUE(cm.isOk()) << cm.status().toString();
    cm_ = cm->release();
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "gc"}}}};
    auto r = client_->create(kNamespaces, "", ns);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  static void TearDownTestSuite() {
    if (cm_) cm_->stop();
    delete cm_;
    delete client_;
    delete server_;
  }

  // A ReplicaSet with two pods it owns; returns the RS uid.
  std::string makeRsWithPods(const std::string& name) {
    json rs = {{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
               {"metadata", {{"name", name}, {"namespace", "gc"}}},
               {"spec", {{"replicas", 0},
                         {"selector", {{"matchLabels", {{"app", name}}}}},
                         {"template", {{"metadata", {{"labels", {{"app", name}}}}},
                                       {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
    auto created = client_->create(kRs, "gc", rs);
    EXPECT_TRUE(created.isOk()) << created.status().toString();
    if (!created.isOk()) return "";
    std::string uid = (*created)["metadata"]["uid"];
    for (int i = 0; i < 2; ++i) {
      json pod = {{"apiVersion", "v1"}, {"kind", "Pod"},
                  {"metadata", {{"name", name + "-" + std::to_string(i)}, {"namespace", "gc"},
                                {"labels", {{"app", name}}},
                                {"ownerReferences", {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"},
                                                      {"name", name}, {"uid", uid}, {"controller", true},
                                                      {"blockOwnerDeletion", true}}}}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
      auto p = client_->create(kPods, "gc", pod);
      EXPECT_TRUE(p.isOk()) << p.status().toString();
    }
    return uid;
  }

  static e2e::Server* server_;
  static client::RestClient* client_;
  static ControllerManager* cm_;
};

e2e::Server* ControllersIntegration::server_ = nullptr;
client::RestClient* ControllersIntegration::client_ = nullptr;
ControllerManager* ControllersIntegration::cm_ = nullptr;

bool has(client::Informer& i, const std::string& key) { return i.get(key) != nullptr; }

TEST_F(ControllersIntegration, BackgroundDeletesDependents) {
  Watcher pods(client_, kPods);
  ASSERT_TRUE(pods.synced());
  std::string uid = makeRsWithPods("bg");
  ASSERT_TRUE(pods.waitUntil([](auto& i) { return has(i, "gc/bg-0") && has(i, "gc/bg-1"); }));
  auto del = client_->remove(kRs, "gc", "bg", {{"propagationPolicy", "Background"}});
  ASSERT_TRUE(del.isOk()) << del.status().toString();
  EXPECT_TRUE(pods.waitUntil([](auto& i) { return !has(i, "gc/bg-0") && !has(i, "gc/bg-1"); }))
      << "pods of a deleted ReplicaSet were not collected";
  EXPECT_EQ(client_->get(kRs, "gc", "bg").status().code(), Code::kNotFound);
}

TEST_F(ControllersIntegration, OrphanKeepsDependentsWithoutTheOwnerRef) {
  Watcher pods(client_, kPods);
  Watcher sets(client_, kRs);
  ASSERT_TRUE(pods.synced() && sets.synced());
  std::string uid = makeRsWithPods("or");
  ASSERT_TRUE(pods.waitUntil([](auto& i) { return has(i, "gc/or-0") && has(i, "gc/or-1"); }));
  // The RS must be in the informer before its absence can mean it was deleted.
  ASSERT_TRUE(sets.waitUntil([](auto& i) { return has(i, "gc/or"); }));
  auto del = client_->remove(kRs, "gc", "or", {{"propagationPolicy", "Orphan"}});
  ASSERT_TRUE(del.isOk()) << del.status().toString();
  EXPECT_TRUE(sets.waitUntil([&](auto&) { return sets.deletedAt("gc/or") > 0; }))
      << "orphaned RS stayed";
  auto orphaned = [](client::Informer& i) {
    for (const char* k : {"gc/or-0", "gc/or-1"}) {
      auto p = i.get(k);
      if (!p || (*p)["metadata"].contains("ownerReferences")) return false;
    }
    return true;
  };
  EXPECT_TRUE(pods.waitUntil(orphaned));
  for (const char* n : {"or-0", "or-1"}) {
    auto p = client_->get(kPods, "gc", n);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    EXPECT_FALSE((*p)["metadata"].contains("ownerReferences")) << (*p)["metadata"].dump();
  }
  EXPECT_EQ(client_->get(kRs, "gc", "or").status().code(), Code::kNotFound);
}

TEST_F(ControllersIntegration, ForegroundDeletesDependentsFirst) {
  Watcher pods(client_, kPods);
  Watcher sets(client_, kRs);
  ASSERT_TRUE(pods.synced() && sets.synced());
  makeRsWithPods("fg");
  ASSERT_TRUE(pods.waitUntil([](auto& i) { return has(i, "gc/fg-0") && has(i, "gc/fg-1"); }));
  ASSERT_TRUE(sets.waitUntil([](auto& i) { return has(i, "gc/fg"); }));
  auto del = client_->remove(kRs, "gc", "fg", {{"propagationPolicy", "Foreground"}});
  ASSERT_TRUE(del.isOk()) << del.status().toString();
  EXPECT_TRUE((*del)["metadata"].contains("deletionTimestamp"));
  EXPECT_TRUE(sets.waitUntil([&](auto&) { return sets.deletedAt("gc/fg") > 0; }))
      << "RS never deleted";
  EXPECT_TRUE(pods.waitUntil([](auto& i) { return !has(i, "gc/fg-0") && !has(i, "gc/fg-1"); }));
  int64_t rs_rv = sets.deletedAt("gc/fg");
  ASSERT_GT(rs_rv, 0);
  EXPECT_LT(pods.deletedAt("gc/fg-0"), rs_rv);
  EXPECT_LT(pods.deletedAt("gc/fg-1"), rs_rv);
  EXPECT_GT(pods.deletedAt("gc/fg-0"), 0);
}

TEST_F(ControllersIntegration, NamespaceDeletionEmptiesThenRemovesIt) {
  Watcher nss(client_, kNamespaces);
  Watcher cms(client_, kConfigMaps);
  ASSERT_TRUE(nss.synced() && cms.synced());
  auto ns = client_->create(kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"},
                                              {"metadata", {{"name", "doomed"}}}});
  ASSERT_TRUE(ns.isOk()) << ns.status().toString();
  for (const char* n : {"a", "b"}) {
    auto cm = client_->create(kConfigMaps, "doomed",
                              {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                               {"metadata", {{"name", n}, {"namespace", "doomed"}}},
                               {"data", {{"k", "v"}}}});
    ASSERT_TRUE(cm.isOk()) << cm.status().toString();
  }
  ASSERT_TRUE(cms.waitUntil([](auto& i) { return has(i, "doomed/a") && has(i, "doomed/b"); }));
  auto del = client_->remove(kNamespaces, "", "doomed");
  ASSERT_TRUE(del.isOk()) << del.status().toString();
  EXPECT_TRUE(cms.waitUntil([](auto& i) { return !has(i, "doomed/a") && !has(i, "doomed/b"); }))
      << "configmaps of a deleted namespace stayed";
  EXPECT_TRUE(nss.waitUntil([&](auto&) { return nss.deletedAt("doomed") > 0; }))
      << "namespace never finalized";
  int64_t ns_rv = nss.deletedAt("doomed");
  ASSERT_GT(ns_rv, 0);
  EXPECT_LT(cms.deletedAt("doomed/a"), ns_rv);
  EXPECT_LT(cms.deletedAt("doomed/b"), ns_rv);
  EXPECT_EQ(client_->get(kNamespaces, "", "doomed").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace berth::controllers
