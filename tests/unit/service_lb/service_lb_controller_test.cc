// ServiceLbController and its spec building: names, listeners per TCP port, targets (Ready,
// not excluded, Local policy), zones; the finalizer before anything in the cloud; status and
// the published object; targets following nodes (coalesced); delete, type change, retries.
#include "networking/service_lb/service_lb_controller.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "tests/unit/controllers/fake_client.h"

namespace berth::networking {
namespace {

using client::json;

const client::Resource kServices{"", "v1", "services", "Service", true, {}};
const client::Resource kNodes{"", "v1", "nodes", "Node", false, {}};
const client::Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}};

// FakeClient whose watches deliver the events pushed with push(), so caches can change.
class WatchClient : public testing::FakeClient {
 public:
  void push(const client::Resource& r, const std::string& type, const json& obj) {
    std::lock_guard<std::mutex> l(mu_);
    events_[r.id()].push_back({{"type", type}, {"object", obj}});
    cv_.notify_all();
  }
  Status watch(const client::Resource& r, const std::string&, const client::WatchOptions&,
               const client::WatchHandler& handler, client::CancelToken* cancel) override {
    while (!cancel->cancelled()) {
      json ev;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait_for(l, std::chrono::milliseconds(10), [&] { return !events_[r.id()].empty(); });
        if (events_[r.id()].empty()) continue;
        ev = events_[r.id()].front();
        events_[r.id()].pop_front();
      }
      if (!handler(ev)) return Status::ok();
    }
    return Status::ok();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<json>> events_;
};

class FakeNetwork : public cloud::NetworkDriver {
 public:
  explicit FakeNetwork(WatchClient* client) : client_(client) {}
  Result<cloud::Vpc> ensureNetwork(const cloud::NetworkSpec&) override { return cloud::Vpc{}; }
  Result<cloud::Vpc> describeNetwork() override {
    std::lock_guard<std::mutex> l(mu);
    if (vpc_zones.empty()) return notFound("no network");
    cloud::Vpc vpc;
    for (const auto& z : vpc_zones) {
      vpc.subnets.push_back({"subnet-pub-" + z, z, "10.0.0.0/24", true, ""});
      vpc.subnets.push_back({"subnet-priv-" + z, z + "-private-only", "10.0.1.0/24", false, ""});
    }
    return vpc;
  }
  Status deleteNetwork() override { return Status::ok(); }
  Result<cloud::LoadBalancer> ensureLoadBalancer(const cloud::LoadBalancerSpec& spec) override {
    std::lock_guard<std::mutex> l(mu);
    ensured.push_back(spec);
    actions_before_ensure = client_->actions();
    if (!fail_ensure.isOk()) return fail_ensure;
    return cloud::LoadBalancer{spec.name, "lb-1", "198.51.100.10", "active"};
  }
  Status deleteLoadBalancer(const std::string& name) override {
    std::lock_guard<std::mutex> l(mu);
    deleted.push_back(name);
    return fail_delete;
  }
  Result<std::vector<cloud::LoadBalancer>> listLoadBalancers() override {
    return std::vector<cloud::LoadBalancer>{};
  }
  Status ensureRoute(const std::string&, const std::string&) override { return Status::ok(); }
  Status deleteRoute(const std::string&) override { return Status::ok(); }

  size_t ensures() {
    std::lock_guard<std::mutex> l(mu);
    return ensured.size();
  }

  std::mutex mu;
  WatchClient* client_;
  std::vector<std::string> vpc_zones = {"z-a", "z-b", "z-c"};
  std::vector<cloud::LoadBalancerSpec> ensured;
  std::vector<std::string> deleted;
  std::vector<testing::Action> actions_before_ensure;
  Status fail_ensure, fail_delete;
};

json node(const std::string& name, const std::string& ip, const std::string& zone, bool ready = true,
          const std::string& rv = "1") {
  return {{"metadata", {{"name", name}, {"resourceVersion", rv}, {"labels", {{kZoneLabel, zone}}}}},
          {"status",
           {{"addresses", {{{"type", "Hostname"}, {"address", name}}, {{"type", "InternalIP"}, {"address", ip}}}},
            {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
}

json port(const std::string& name, int p, int node_port, const std::string& proto = "TCP") {
  json j = {{"name", name}, {"port", p}, {"protocol", proto}, {"targetPort", p}};
  if (node_port) j["nodePort"] = node_port;
  return j;
}

json service(const std::string& name, json ports, const std::string& type = "LoadBalancer") {
  return {{"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", "5"}, {"uid", "u-" + name}}},
          {"spec", {{"type", type}, {"ports", ports}, {"externalTrafficPolicy", "Cluster"}}},
          {"status", {{"loadBalancer", json::object()}}}};
}

json slice(const std::string& svc, const std::vector<std::pair<std::string, bool>>& eps) {
  json endpoints = json::array();
  int i = 0;
  for (const auto& [n, ready] : eps)
    endpoints.push_back({{"addresses", {"10.244.0." + std::to_string(++i)}},
                         {"nodeName", n},
                         {"conditions", {{"ready", ready}}}});
  return {{"metadata", {{"name", svc + "-abc"}, {"namespace", "default"}, {"resourceVersion", "3"},
                        {"labels", {{"kubernetes.io/service-name", svc}}}}},
          {"addressType", "IPv4"},
          {"endpoints", endpoints}};
}

std::vector<client::ObjectPtr> ptrs(const std::vector<json>& v) {
  std::vector<client::ObjectPtr> out;
  for (const auto& j : v) out.push_back(std::make_shared<const json>(j));
  return out;
}

std::vector<std::string> targetsOf(const cloud::LoadBalancerListener& l) {
  std::vector<std::string> out;
  for (const auto& t : l.targets) out.push_back(t.ip + ":" + std::to_string(t.port) + "@" + t.zone);
  return out;
}

// ---- spec building ----

TEST(LoadBalancerName, ShortStableAndUnique) {
  EXPECT_EQ(loadBalancerName("default", "web"), "default-web");
  EXPECT_EQ(loadBalancerName("default", "web"), loadBalancerName("default", "web"));
  // "a-b"/"c" and "a"/"b-c" would both read "a-b-c".
  EXPECT_NE(loadBalancerName("a-b", "c"), loadBalancerName("a", "b-c"));
  std::string long_name = loadBalancerName("production", "a-very-long-service-name-for-the-shop");
  EXPECT_LE(long_name.size(), 32u);
  EXPECT_EQ(long_name.rfind("production-a-very", 0), 0u) << long_name;
  EXPECT_NE(long_name, loadBalancerName("production", "a-very-long-service-name-for-the-shop2"));
  for (const std::string& n : {long_name, loadBalancerName("a-b", "c")})
    for (char c : n) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-') << n;
}

TEST(LoadBalancerSpec, ListenerPerTcpPortTargetingEligibleNodes) {
  json svc = service("web", {port("http", 80, 30080), port("https", 443, 30443), port("dns", 53, 30053, "UDP")});
  json excluded = node("n-ex", "192.168.0.9", "z-a");
  excluded["metadata"]["labels"][kExcludeFromLoadBalancersLabel] = "";
  json no_ip = node("n-noip", "", "z-a");
  no_ip["status"]["addresses"] = json::array();
  auto nodes = ptrs({node("n-b", "192.168.32.5", "z-b"), node("n-a", "192.168.0.5", "z-a"),
                     node("n-down", "192.168.0.6", "z-a", false), excluded, no_ip});
  BuiltSpec b = buildLoadBalancerSpec(svc, nodes, {}, {"z-c", "z-a", "z-b"});
  EXPECT_EQ(b.spec.name, "default-web");
  ASSERT_EQ(b.spec.listeners.size(), 2u);
  EXPECT_EQ(b.spec.listeners[0].port, 80);
  EXPECT_EQ(b.spec.listeners[0].protocol, "TCP");
  EXPECT_EQ(targetsOf(b.spec.listeners[0]),
            (std::vector<std::string>{"192.168.0.5:30080@z-a", "192.168.32.5:30080@z-b"}));
  EXPECT_EQ(b.spec.listeners[1].port, 443);
  EXPECT_EQ(targetsOf(b.spec.listeners[1]),
            (std::vector<std::string>{"192.168.0.5:30443@z-a", "192.168.32.5:30443@z-b"}));
  EXPECT_EQ(b.spec.zones, (std::vector<std::string>{"z-a", "z-b", "z-c"}));
  ASSERT_EQ(b.refused.size(), 1u);
  EXPECT_NE(b.refused[0].find("\"dns\" (53/UDP)"), std::string::npos) << b.refused[0];
}

TEST(LoadBalancerSpec, ZonesFromNodesWithoutAVpcAndPortsWithoutNodePortRefused) {
  json svc = service("web", {port("http", 80, 0)});
  auto nodes = ptrs({node("n-b", "192.168.32.5", "z-b"), node("n-a", "192.168.0.5", "z-a"),
                     node("n-down", "192.168.64.6", "z-c", false)});
  BuiltSpec b = buildLoadBalancerSpec(svc, nodes, {}, {});
  EXPECT_EQ(b.spec.zones, (std::vector<std::string>{"z-a", "z-b"}));
  EXPECT_TRUE(b.spec.listeners.empty());
  ASSERT_EQ(b.refused.size(), 1u);
  EXPECT_NE(b.refused[0].find("no nodePort"), std::string::npos) << b.refused[0];
}

TEST(LoadBalancerSpec, LocalPolicyTargetsOnlyNodesWithAReadyEndpoint) {
  json svc = service("web", {port("http", 80, 30080)});
  svc["spec"]["externalTrafficPolicy"] = "Local";
  auto nodes = ptrs({node("n-a", "192.168.0.5", "z-a"), node("n-b", "192.168.32.5", "z-b"),
                     node("n-c", "192.168.64.5", "z-c")});
  auto slices = ptrs({slice("web", {{"n-a", true}, {"n-b", false}})});
  BuiltSpec b = buildLoadBalancerSpec(svc, nodes, slices, {"z-a", "z-b", "z-c"});
  ASSERT_EQ(b.spec.listeners.size(), 1u);
  EXPECT_EQ(targetsOf(b.spec.listeners[0]), (std::vector<std::string>{"192.168.0.5:30080@z-a"}));
  // Cluster policy ignores endpoints.
  svc["spec"]["externalTrafficPolicy"] = "Cluster";
  EXPECT_EQ(buildLoadBalancerSpec(svc, nodes, slices, {}).spec.listeners[0].targets.size(), 3u);
}

TEST(LoadBalancerSpec, OnlyTypeLoadBalancerWithoutAClassIsOurs) {
  EXPECT_TRUE(wantsLoadBalancer(service("a", {port("p", 80, 30080)})));
  EXPECT_FALSE(wantsLoadBalancer(service("a", {port("p", 80, 30080)}, "NodePort")));
  json classed = service("a", {port("p", 80, 30080)});
  classed["spec"]["loadBalancerClass"] = "example.com/other";
  EXPECT_FALSE(wantsLoadBalancer(classed));
}

TEST(NodeChange, OnlyWhatChangesTargetsMatters) {
  json n = node("n-a", "192.168.0.5", "z-a");
  json heartbeat = n;
  heartbeat["metadata"]["resourceVersion"] = "2";
  heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = "2026-11-28T02:00:00Z";
  EXPECT_FALSE(ServiceLbController::nodeChangeMatters(&n, &heartbeat));
  json down = node("n-a", "192.168.0.5", "z-a", false);
  EXPECT_TRUE(ServiceLbController::nodeChangeMatters(&n, &down));
  json moved = node("n-a", "192.168.0.5", "z-b");
  EXPECT_TRUE(ServiceLbController::nodeChangeMatters(&n, &moved));
  json excluded = n;
  excluded["metadata"]["labels"][kExcludeFromLoadBalancersLabel] = "true";
  EXPECT_TRUE(ServiceLbController::nodeChangeMatters(&n, &excluded));
  EXPECT_TRUE(ServiceLbController::nodeChangeMatters(nullptr, &n));
  EXPECT_TRUE(ServiceLbController::nodeChangeMatters(&n, nullptr));
  EXPECT_FALSE(ServiceLbController::nodeChangeMatters(nullptr, &down));  // never a target
}

// ---- the controller ----

struct Event {
  bool warning;
  std::string reason, message;
};

class ServiceLbControllerTest : public ::testing::Test {
 protected:
  void start() {
    informers_ = std::make_unique<client::InformerFactory>(&client_);
    network_ = std::make_shared<FakeNetwork>(&client_);
    ServiceLbController::Config c;
    c.cluster = "t1";
    c.network = network_;
    c.workers = 1;
    c.node_sync_delay = std::chrono::milliseconds(20);
    c.queue.limiter.base_delay = std::chrono::milliseconds(1);
    c.event = [this](const json& ref, bool warning, const std::string& reason, const std::string& msg) {
      std::lock_guard<std::mutex> l(mu_);
      EXPECT_EQ(ref.value("kind", ""), "Service");
      events_.push_back({warning, reason, msg});
    };
    lbc_ = std::make_unique<ServiceLbController>(&client_, informers_.get(), c);
    informers_->start();
    for (auto* i : informers_->informers()) ASSERT_TRUE(i->waitForSync(std::chrono::seconds(5)));
  }
  void TearDown() override {
    if (informers_) informers_->stop();
  }
  std::vector<std::string> reasons() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(e.reason);
    return out;
  }
  std::vector<Event> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  void clearEvents() {
    std::lock_guard<std::mutex> l(mu_);
    events_.clear();
  }
  // Index of the first action matching verb and resource id, or -1.
  static int find(const std::vector<testing::Action>& actions, const std::string& verb, const std::string& resource) {
    for (size_t i = 0; i < actions.size(); ++i)
      if (actions[i].verb == verb && actions[i].resource == resource) return static_cast<int>(i);
    return -1;
  }
  // Pushes a watch event and waits until the cache shows `obj` (its resourceVersion).
  void pushAndWait(const client::Resource& r, const std::string& type, const json& obj) {
    client_.push(r, type, obj);
    client::Informer* inf = informers_->informerFor(r);
    std::string key = client::objectKey(obj);
    std::string rv = obj["metadata"].value("resourceVersion", "");
    for (int i = 0; i < 500; ++i) {
      client::ObjectPtr cur = inf->get(key);
      if (type == "DELETED" ? !cur : (cur && (*cur)["metadata"].value("resourceVersion", "") == rv)) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "cache never showed " << type << " " << key;
  }

  WatchClient client_;
  std::unique_ptr<client::InformerFactory> informers_;
  std::shared_ptr<FakeNetwork> network_;
  std::unique_ptr<ServiceLbController> lbc_;
  std::mutex mu_;
  std::vector<Event> events_;
};

TEST_F(ServiceLbControllerTest, FinalizerFirstThenBalancerStatusAndObject) {
  client_.put(kNodes, node("n-a", "192.168.0.5", "z-a"));
  client_.put(kNodes, node("n-b", "192.168.32.5", "z-b"));
  client_.put(kServices, service("web", {port("http", 80, 30080), port("dns", 53, 30053, "UDP")}));
  start();
  auto r = lbc_->reconcile("default/web");
  ASSERT_TRUE(r.error.isOk()) << r.error.toString();
  ASSERT_EQ(network_->ensures(), 1u);
  // The finalizer was on the Service before the cloud was asked for anything.
  int fin = find(network_->actions_before_ensure, "patch", "v1/services");
  ASSERT_GE(fin, 0);
  const json& patch = network_->actions_before_ensure[fin].body;
  EXPECT_EQ(patch["metadata"]["finalizers"], json::array({kLoadBalancerCleanupFinalizer}));
  EXPECT_EQ(patch["metadata"]["resourceVersion"], "5");

  const cloud::LoadBalancerSpec& spec = network_->ensured[0];
  EXPECT_EQ(spec.name, "default-web");
  EXPECT_EQ(spec.zones, (std::vector<std::string>{"z-a", "z-b", "z-c"}));
  ASSERT_EQ(spec.listeners.size(), 1u);
  EXPECT_EQ(targetsOf(spec.listeners[0]),
            (std::vector<std::string>{"192.168.0.5:30080@z-a", "192.168.32.5:30080@z-b"}));

  auto actions = client_.actions();
  int status = find(actions, "update/status", "v1/services");
  ASSERT_GE(status, 0);
  EXPECT_EQ(actions[status].body["status"]["loadBalancer"]["ingress"],
            json::parse(R"([{"ip":"198.51.100.10","ipMode":"VIP"}])"));
  EXPECT_EQ(actions[status].body["metadata"]["finalizers"], json::array({kLoadBalancerCleanupFinalizer}));
  int created = find(actions, "create", "berth.dev/v1alpha1/loadbalancers");
  ASSERT_GE(created, 0);
  EXPECT_EQ(actions[created].body["metadata"]["name"], "default-web");
  EXPECT_EQ(actions[created].body["spec"]["service"], "default/web");
  EXPECT_EQ(actions[created].body["metadata"]["labels"]["berth.dev/cluster"], "t1");
  int lb_status = find(actions, "update/status", "berth.dev/v1alpha1/loadbalancers");
  ASSERT_GE(lb_status, 0);
  EXPECT_EQ(actions[lb_status].body["status"]["address"], "198.51.100.10");

  EXPECT_EQ(reasons(), (std::vector<std::string>{"UnsupportedPort", "EnsuringLoadBalancer", "EnsuredLoadBalancer"}));
  EXPECT_TRUE(events()[0].warning);
  EXPECT_NE(events()[0].message.find("53/UDP"), std::string::npos);

  // Nothing changed: no cloud call, no event.
  clearEvents();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(network_->ensures(), 1u);
  EXPECT_TRUE(reasons().empty());
}

TEST_F(ServiceLbControllerTest, ServiceWithoutTcpPortsGetsWarningsOnceAndNoBalancer) {
  client_.put(kNodes, node("n-a", "192.168.0.5", "z-a"));
  json svc = service("dns", {port("dns", 53, 30053, "UDP")});
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  client_.put(kServices, svc);
  start();
  ASSERT_TRUE(lbc_->reconcile("default/dns").error.isOk());
  EXPECT_EQ(reasons(), (std::vector<std::string>{"UnsupportedPort", "SyncLoadBalancerFailed"}));
  EXPECT_EQ(network_->ensures(), 0u);
  ASSERT_TRUE(lbc_->reconcile("default/dns").error.isOk());  // e.g. after a node sync
  EXPECT_EQ(reasons().size(), 2u) << "warnings repeated";
  EXPECT_EQ(network_->ensures(), 0u);
  EXPECT_TRUE(network_->deleted.empty());
}

TEST_F(ServiceLbControllerTest, ServicesThatAreNotOursAreLeftAlone) {
  json classed = service("other", {port("http", 80, 30080)});
  classed["spec"]["loadBalancerClass"] = "example.com/lb";
  client_.put(kServices, classed);
  client_.put(kServices, service("plain", {port("http", 80, 0)}, "ClusterIP"));
  start();
  ASSERT_TRUE(lbc_->reconcile("default/other").error.isOk());
  ASSERT_TRUE(lbc_->reconcile("default/plain").error.isOk());
  ASSERT_TRUE(lbc_->reconcile("default/missing").error.isOk());
  EXPECT_EQ(network_->ensures(), 0u);
  EXPECT_TRUE(network_->deleted.empty());
  for (const auto& a : client_.actions()) EXPECT_EQ(a.verb, "get") << a.verb << " " << a.key;
  EXPECT_TRUE(reasons().empty());
}

TEST_F(ServiceLbControllerTest, NodeChangesAreCoalescedIntoOneTargetUpdate) {
  client_.put(kNodes, node("n-a", "192.168.0.5", "z-a"));
  client_.put(kNodes, node("n-b", "192.168.32.5", "z-b"));
  json svc = service("web", {port("http", 80, 30080)});
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  client_.put(kServices, svc);
  client_.put(kServices, service("plain", {port("http", 80, 0)}, "ClusterIP"));
  start();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  ASSERT_EQ(network_->ensures(), 1u);
  for (std::string k; k != ServiceLbController::kNodeSyncKey;) {  // the informers' initial adds
    ASSERT_TRUE(lbc_->runner().queue().get(&k));
    lbc_->runner().queue().done(k);
  }
  ASSERT_EQ(lbc_->runner().queue().len() + lbc_->runner().queue().waiting(), 0u);
  clearEvents();

  // A new node, one going NotReady, and heartbeats: one node sync.
  pushAndWait(kNodes, "ADDED", node("n-c", "192.168.64.5", "z-c", true, "7"));
  pushAndWait(kNodes, "MODIFIED", node("n-a", "192.168.0.5", "z-a", false, "8"));
  pushAndWait(kNodes, "MODIFIED", node("n-b", "192.168.32.5", "z-b", true, "9"));
  std::string key;
  ASSERT_TRUE(lbc_->runner().queue().get(&key));  // waits for the delayed sync
  EXPECT_EQ(key, ServiceLbController::kNodeSyncKey);
  lbc_->runner().queue().done(key);
  EXPECT_EQ(lbc_->runner().queue().len() + lbc_->runner().queue().waiting(), 0u);
  ASSERT_TRUE(lbc_->reconcile(key).error.isOk());
  ASSERT_EQ(lbc_->runner().queue().len(), 1u);  // only the LoadBalancer Service
  ASSERT_TRUE(lbc_->runner().queue().get(&key));
  EXPECT_EQ(key, "default/web");
  lbc_->runner().queue().done(key);

  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  ASSERT_EQ(network_->ensures(), 2u);
  EXPECT_EQ(targetsOf(network_->ensured[1].listeners[0]),
            (std::vector<std::string>{"192.168.32.5:30080@z-b", "192.168.64.5:30080@z-c"}));
  EXPECT_EQ(reasons(), (std::vector<std::string>{"UpdatedLoadBalancer"}));
  auto actions = client_.actions();
  int updated = -1;
  for (size_t i = 0; i < actions.size(); ++i)
    if (actions[i].verb == "create" && actions[i].resource == "berth.dev/v1alpha1/loadbalancers") updated = i;
  ASSERT_GE(updated, 0) << "the published object follows the targets";
  EXPECT_EQ(actions[updated].body["spec"]["listeners"][0]["targets"].size(), 2u);
}

TEST_F(ServiceLbControllerTest, LocalPolicyFollowsEndpointSlices) {
  client_.put(kNodes, node("n-a", "192.168.0.5", "z-a"));
  client_.put(kNodes, node("n-b", "192.168.32.5", "z-b"));
  json svc = service("web", {port("http", 80, 30080)});
  svc["spec"]["externalTrafficPolicy"] = "Local";
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  client_.put(kServices, svc);
  client_.put(kSlices, slice("web", {{"n-a", true}}));
  start();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(targetsOf(network_->ensured.back().listeners[0]), (std::vector<std::string>{"192.168.0.5:30080@z-a"}));
  json moved = slice("web", {{"n-a", false}, {"n-b", true}});
  moved["metadata"]["resourceVersion"] = "11";
  pushAndWait(kSlices, "MODIFIED", moved);
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(targetsOf(network_->ensured.back().listeners[0]), (std::vector<std::string>{"192.168.32.5:30080@z-b"}));
}

TEST_F(ServiceLbControllerTest, DeletedServiceLosesItsBalancerThenItsFinalizer) {
  json svc = service("web", {port("http", 80, 30080)});
  svc["metadata"]["finalizers"] = {"example.com/keep", kLoadBalancerCleanupFinalizer};
  svc["metadata"]["deletionTimestamp"] = "2026-11-28T02:00:00Z";
  svc["status"]["loadBalancer"] = {{"ingress", {{{"ip", "198.51.100.10"}, {"ipMode", "VIP"}}}}};
  client_.put(kServices, svc);
  start();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(network_->deleted, (std::vector<std::string>{"default-web"}));
  EXPECT_EQ(network_->ensures(), 0u);
  auto actions = client_.actions();
  int unpublished = find(actions, "delete", "berth.dev/v1alpha1/loadbalancers");
  int fin = find(actions, "patch", "v1/services");
  ASSERT_GE(unpublished, 0);
  ASSERT_GT(fin, unpublished);
  EXPECT_EQ(actions[fin].body["metadata"]["finalizers"], json::array({"example.com/keep"}));
  EXPECT_EQ(find(actions, "update/status", "v1/services"), -1) << "a Service being deleted keeps its status";
  EXPECT_EQ(reasons(), (std::vector<std::string>{"DeletingLoadBalancer", "DeletedLoadBalancer"}));
}

TEST_F(ServiceLbControllerTest, TypeChangedAwayClearsStatusThenRemovesTheFinalizer) {
  json svc = service("web", {port("http", 80, 30080)}, "NodePort");
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  svc["status"]["loadBalancer"] = {{"ingress", {{{"ip", "198.51.100.10"}, {"ipMode", "VIP"}}}}};
  client_.put(kServices, svc);
  start();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(network_->deleted, (std::vector<std::string>{"default-web"}));
  auto actions = client_.actions();
  int status = find(actions, "update/status", "v1/services");
  int fin = find(actions, "patch", "v1/services");
  ASSERT_GE(status, 0);
  ASSERT_GT(fin, status);
  EXPECT_EQ(actions[status].body["status"]["loadBalancer"], json::object());
  EXPECT_TRUE(actions[fin].body["metadata"]["finalizers"].is_null()) << actions[fin].body;
}

TEST_F(ServiceLbControllerTest, CloudErrorsAreEventsAndRetriedWithBackoff) {
  client_.put(kNodes, node("n-a", "192.168.0.5", "z-a"));
  json svc = service("web", {port("http", 80, 30080)});
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  client_.put(kServices, svc);
  start();
  network_->fail_ensure = Status(Code::kUnavailable, "the cloud is down");
  auto r = lbc_->reconcile("default/web");
  EXPECT_FALSE(r.error.isOk());
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].reason, "SyncLoadBalancerFailed");
  EXPECT_TRUE(ev[1].warning);
  EXPECT_NE(ev[1].message.find("the cloud is down"), std::string::npos) << ev[1].message;
  EXPECT_EQ(find(client_.actions(), "update/status", "v1/services"), -1);

  // Through the runner: the failure is requeued with back-off.
  lbc_->runner().processOne("default/web");
  EXPECT_EQ(lbc_->runner().queue().numRequeues("default/web"), 1);

  network_->fail_ensure = Status::ok();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_GE(find(client_.actions(), "update/status", "v1/services"), 0);
  EXPECT_EQ(reasons().back(), "EnsuredLoadBalancer");

  // A failing delete keeps the finalizer and is retried.
  network_->fail_delete = Status(Code::kUnavailable, "still down");
  client_.clearActions();
  json gone = svc;
  gone["metadata"]["resourceVersion"] = "12";
  gone["metadata"]["deletionTimestamp"] = "2026-11-28T02:00:00Z";
  pushAndWait(kServices, "MODIFIED", gone);
  EXPECT_FALSE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(find(client_.actions(), "patch", "v1/services"), -1);
  EXPECT_EQ(reasons().back(), "SyncLoadBalancerFailed");
}

TEST_F(ServiceLbControllerTest, ServiceGoneWithoutFinalizerStillLosesItsBalancer) {
  json svc = service("web", {port("http", 80, 30080)});
  svc["metadata"]["finalizers"] = {kLoadBalancerCleanupFinalizer};
  client_.put(kServices, svc);
  start();
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  pushAndWait(kServices, "DELETED", svc);
  ASSERT_TRUE(lbc_->reconcile("default/web").error.isOk());
  EXPECT_EQ(network_->deleted, (std::vector<std::string>{"default-web"}));
  EXPECT_GE(find(client_.actions(), "delete", "berth.dev/v1alpha1/loadbalancers"), 0);
}

}  // namespace
}  // namespace berth::networking
