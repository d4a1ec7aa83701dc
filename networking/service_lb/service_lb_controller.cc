#include "networking/service_lb/service_lb_controller.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "client/event_recorder.h"
#include "client/rest_client.h"
#include "common/log.h"
#include "networking/network_objects.h"

namespace berth::networking {

using client::json;
using controllers::ReconcileResult;

namespace {

const client::Resource kServices{"", "v1", "services", "Service", true, {}};
const client::Resource kNodes{"", "v1", "nodes", "Node", false, {}};
const client::Resource kSlices{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, {}};
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kSliceIndex[] = "serviceLbService";  // "ns/service" of a slice

const json& at(const json& obj, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &obj;
  for (const char* k : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(k);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string strAt(const json& obj, std::initializer_list<const char*> path) {
  const json& v = at(obj, path);
  return v.is_string() ? v.get<std::string>() : "";
}

bool hasFinalizer(const json& svc) {
  const json& f = at(svc, {"metadata", "finalizers"});
  return f.is_array() && std::find(f.begin(), f.end(), json(kLoadBalancerCleanupFinalizer)) != f.end();
}

bool deleting(const json& obj) { return !at(obj, {"metadata", "deletionTimestamp"}).is_null(); }

json ingressFor(const std::string& address) {
  return json::array({{{"ip", address}, {"ipMode", "VIP"}}});
}

bool hasIngress(const json& svc) {
  const json& ing = at(svc, {"status", "loadBalancer", "ingress"});
  return ing.is_array() && !ing.empty();
}

// What of a Node decides whether and how it is a target.
std::tuple<bool, std::string, std::string> targetView(const json* node) {
  if (!node || !eligibleNode(*node)) return {false, "", ""};
  std::string ip;
  const json& addrs = at(*node, {"status", "addresses"});
  if (addrs.is_array())
    for (const json& a : addrs)
      if (strAt(a, {"type"}) == "InternalIP") ip = strAt(a, {"address"});
  return {true, ip, strAt(*node, {"metadata", "labels", kZoneLabel})};
}

// The Service's resourceVersion from a write's response, else the one we had.
void takeResourceVersion(json& obj, const Result<json>& written) {
  if (!written.isOk()) return;
  std::string rv = strAt(*written, {"metadata", "resourceVersion"});
  if (!rv.empty()) obj["metadata"]["resourceVersion"] = rv;
}

}  // namespace

ServiceLbController::ServiceLbController(client::Client* client, client::InformerFactory* informers,
                                         Config config)
    : client_(client),
      config_(std::move(config)),
      services_(informers->informerFor(kServices)),
      nodes_(informers->informerFor(kNodes)),
      slices_(informers->informerFor(kSlices)) {
  controller_ = controllers::Controller::forConfig("service-lb", config_,
                                                   [this](const std::string& k) { return reconcile(k); });
  services_->addEventHandlers(controller_->keyHandlers(true));

  client::EventHandlers nh;
  nh.on_add = [this](const client::ObjectPtr& n) {
    if (nodeChangeMatters(nullptr, n.get())) scheduleNodeSync();
  };
  nh.on_update = [this](const client::ObjectPtr& o, const client::ObjectPtr& n) {
    if (nodeChangeMatters(o.get(), n.get())) scheduleNodeSync();
  };
  nh.on_delete = [this](const client::ObjectPtr& o) {
    if (nodeChangeMatters(o.get(), nullptr)) scheduleNodeSync();
  };
  nodes_->addEventHandlers(nh);

  slices_->addIndexer(kSliceIndex, [](const json& s) -> std::vector<std::string> {
    std::string svc = strAt(s, {"metadata", "labels", kServiceNameLabel});
    if (svc.empty()) return {};
    return {strAt(s, {"metadata", "namespace"}) + "/" + svc};
  });
  // Only Services with externalTrafficPolicy Local read endpoints.
  auto slice_changed = [this](const client::ObjectPtr& s) {
    std::string svc = strAt(*s, {"metadata", "labels", kServiceNameLabel});
    if (svc.empty()) return;
    std::string key = strAt(*s, {"metadata", "namespace"}) + "/" + svc;
    client::ObjectPtr obj = services_->get(key);
    if (obj && wantsLoadBalancer(*obj) && strAt(*obj, {"spec", "externalTrafficPolicy"}) == "Local")
      controller_->enqueue(key);
  };
  client::EventHandlers sh;
  sh.on_add = slice_changed;
  sh.on_update = [slice_changed](const client::ObjectPtr&, const client::ObjectPtr& n) { slice_changed(n); };
  sh.on_delete = slice_changed;
  slices_->addEventHandlers(sh);
}

void ServiceLbController::start() { controller_->start({services_, nodes_, slices_}); }
void ServiceLbController::stop() { controller_->stop(); }

bool ServiceLbController::nodeChangeMatters(const json* old_node, const json* new_node) {
  return targetView(old_node) != targetView(new_node);
}

void ServiceLbController::scheduleNodeSync() {
  // One timer per key, the earliest deadline wins: a burst of node events is one sync.
  controller_->queue().addAfter(kNodeSyncKey, config_.node_sync_delay);
}

void ServiceLbController::enqueueBalanced() {
  for (const client::ObjectPtr& s : services_->list())
    if (wantsLoadBalancer(*s) && !deleting(*s)) controller_->enqueue(client::objectKey(*s));
}

void ServiceLbController::event(const json& obj, bool warning, const std::string& reason,
                                const std::string& msg) {
  BLOG(2, "service load balancer").kv("service", client::objectKey(obj)).kv("reason", reason).kv("message", msg);
  if (!config_.event) return;
  json ref = {{"kind", "Service"}, {"apiVersion", "v1"},
              {"namespace", strAt(obj, {"metadata", "namespace"})}, {"name", strAt(obj, {"metadata", "name"})}};
  if (!strAt(obj, {"metadata", "uid"}).empty()) ref["uid"] = strAt(obj, {"metadata", "uid"});
  config_.event(ref, warning, reason, msg);
}

ReconcileResult ServiceLbController::reconcile(const std::string& key) {
  if (key == kNodeSyncKey) {
    enqueueBalanced();
    return ReconcileResult::ok();
  }
  client::ObjectPtr svc = services_->get(key);
  bool known;
  {
    std::lock_guard<std::mutex> l(mu_);
    known = applied_.count(key) > 0;
  }
  if (!svc) return known ? cleanup(key, nullptr) : ReconcileResult::ok();
  if (deleting(*svc) || !wantsLoadBalancer(*svc)) {
    if (hasFinalizer(*svc) || known) return cleanup(key, svc.get());
    return ReconcileResult::ok();
  }
  return syncService(key, *svc);
}

Result<json> ServiceLbController::addFinalizer(const json& svc) {
  json out = svc;
  json finalizers = at(svc, {"metadata", "finalizers"}).is_array() ? svc["metadata"]["finalizers"] : json::array();
  finalizers.push_back(kLoadBalancerCleanupFinalizer);
  out["metadata"]["finalizers"] = finalizers;
  json patch = {{"metadata", {{"finalizers", finalizers},
                              {"resourceVersion", strAt(svc, {"metadata", "resourceVersion"})}}}};
  auto r = client_->patch(kServices, strAt(svc, {"metadata", "namespace"}), strAt(svc, {"metadata", "name"}),
                          client::PatchType::kMerge, patch);
  if (!r.isOk()) return r.status().withContext("adding finalizer " + std::string(kLoadBalancerCleanupFinalizer));
  takeResourceVersion(out, r);
  return out;
}

Status ServiceLbController::removeFinalizer(const json& svc) {
  json finalizers = json::array();
  for (const json& f : at(svc, {"metadata", "finalizers"}))
    if (f != kLoadBalancerCleanupFinalizer) finalizers.push_back(f);
  // null removes the field, as upstream's objects carry no empty finalizer list.
  json patch = {{"metadata", {{"finalizers", finalizers.empty() ? json() : finalizers},
                              {"resourceVersion", strAt(svc, {"metadata", "resourceVersion"})}}}};
  auto r = client_->patch(kServices, strAt(svc, {"metadata", "namespace"}), strAt(svc, {"metadata", "name"}),
                          client::PatchType::kMerge, patch);
  if (!r.isOk() && r.status().code() != Code::kNotFound)
    return r.status().withContext("removing finalizer " + std::string(kLoadBalancerCleanupFinalizer));
  return Status::ok();
}

Status ServiceLbController::writeIngress(json& svc, const std::string& address) {
  json lb = address.empty() ? json::object() : json{{"ingress", ingressFor(address)}};
  if (at(svc, {"status", "loadBalancer"}) == lb) return Status::ok();
  svc["status"]["loadBalancer"] = lb;
  auto r = client_->update(kServices, strAt(svc, {"metadata", "namespace"}), strAt(svc, {"metadata", "name"}), svc,
                           "status");
  if (!r.isOk()) return r.status().withContext("updating status.loadBalancer");
  takeResourceVersion(svc, r);
  return Status::ok();
}

std::vector<std::string> ServiceLbController::vpcZones() {
  std::set<std::string> zones;
  Result<cloud::Vpc> vpc = config_.network->describeNetwork();
  if (!vpc.isOk()) return {};  // no VPC (yet): the nodes' zones
  for (const cloud::Subnet& s : vpc->subnets)
    if (s.is_public && !s.zone.empty()) zones.insert(s.zone);
  return {zones.begin(), zones.end()};
}

std::vector<client::ObjectPtr> ServiceLbController::slicesOf(const std::string& ns, const std::string& name) {
  return slices_->byIndex(kSliceIndex, ns + "/" + name);
}

ReconcileResult ServiceLbController::syncService(const std::string& key, const json& cached) {
  json svc = cached;
  if (!hasFinalizer(svc)) {
    // Before anything exists in the cloud, so the Service cannot be deleted without us.
    auto r = addFinalizer(svc);
    if (!r.isOk()) return ReconcileResult::fail(r.status());
    svc = std::move(r).value();
  }
  std::string ns = strAt(svc, {"metadata", "namespace"}), name = strAt(svc, {"metadata", "name"});
  bool local = strAt(svc, {"spec", "externalTrafficPolicy"}) == "Local";
  BuiltSpec built = buildLoadBalancerSpec(svc, nodes_->list(), local ? slicesOf(ns, name) : std::vector<client::ObjectPtr>{},
                                          vpcZones());
  std::optional<Applied> prev;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = applied_.find(key); it != applied_.end()) prev = it->second;
  }
  bool shape_changed = !prev || specShape(prev->spec) != specShape(built.spec);
  bool targets_changed = prev && specTargets(prev->spec) != specTargets(built.spec);
  if (shape_changed)
    for (const std::string& m : built.refused) event(svc, true, "UnsupportedPort", m);
  if (built.spec.listeners.empty()) {
    if (shape_changed)
      event(svc, true, "SyncLoadBalancerFailed",
            "Error syncing load balancer: the Service has no TCP port with a nodePort to balance");
    // A balancer made for earlier ports has nothing left to carry.
    if ((prev && !prev->spec.listeners.empty()) || hasIngress(svc)) {
      ReconcileResult r = cleanup(key, &svc, /*keep_finalizer=*/true);
      if (!r.error.isOk()) return r;
    }
    // Remembered, so the warnings are not repeated until the Service changes.
    std::lock_guard<std::mutex> l(mu_);
    applied_[key] = Applied{built.spec, {}};
    return ReconcileResult::ok();
  }

  cloud::LoadBalancer lb;
  if (shape_changed || targets_changed) {
    if (shape_changed) event(svc, false, "EnsuringLoadBalancer", "Ensuring load balancer");
    Result<cloud::LoadBalancer> r = config_.network->ensureLoadBalancer(built.spec);
    if (!r.isOk()) {
      event(svc, true, "SyncLoadBalancerFailed",
            "Error syncing load balancer: failed to ensure load balancer: " + r.status().message());
      return ReconcileResult::fail(r.status().withContext("ensuring load balancer " + built.spec.name));
    }
    lb = *r;
    if (Status st = publishLoadBalancer(*client_, config_.cluster, lb, built.spec, key); !st.isOk())
      return ReconcileResult::fail(st.withContext("publishing load balancer " + lb.name));
    std::lock_guard<std::mutex> l(mu_);
    applied_[key] = Applied{built.spec, lb};
  } else {
    lb = prev->lb;
  }
  if (lb.address.empty()) {
    // Still provisioning: look again for the address.
    std::lock_guard<std::mutex> l(mu_);
    applied_.erase(key);
    return ReconcileResult::after(std::chrono::seconds(5));
  }
  if (Status st = writeIngress(svc, lb.address); !st.isOk()) return ReconcileResult::fail(st);
  if (shape_changed) event(svc, false, "EnsuredLoadBalancer", "Ensured load balancer");
  else if (targets_changed) event(svc, false, "UpdatedLoadBalancer", "Updated load balancer with new hosts");
  return ReconcileResult::ok();
}

ReconcileResult ServiceLbController::cleanup(const std::string& key, const json* cached, bool keep_finalizer) {
  std::string ns, name;
  client::splitKey(key, &ns, &name);
  std::string lb_name = loadBalancerName(ns, name);
  if (cached) event(*cached, false, "DeletingLoadBalancer", "Deleting load balancer");
  Status st = config_.network->deleteLoadBalancer(lb_name);
  if (!st.isOk() && st.code() != Code::kNotFound) {
    if (cached)
      event(*cached, true, "SyncLoadBalancerFailed",
            "Error syncing load balancer: failed to delete load balancer: " + st.message());
    return ReconcileResult::fail(st.withContext("deleting load balancer " + lb_name));
  }
  if (Status u = unpublishLoadBalancer(*client_, lb_name); !u.isOk())
    return ReconcileResult::fail(u.withContext("unpublishing load balancer " + lb_name));
  {
    std::lock_guard<std::mutex> l(mu_);
    applied_.erase(key);
  }
  if (!cached) return ReconcileResult::ok();
  event(*cached, false, "DeletedLoadBalancer", "Deleted load balancer");
  json svc = *cached;
  // A Service being deleted keeps its status until it is gone.
  if (!deleting(svc) && hasIngress(svc))
    if (Status w = writeIngress(svc, ""); !w.isOk()) return ReconcileResult::fail(w);
  if (!keep_finalizer && hasFinalizer(svc))
    if (Status f = removeFinalizer(svc); !f.isOk()) return ReconcileResult::fail(f);
  return ReconcileResult::ok();
}

controllers::ExtraController serviceLbControllerExtra(
    const std::string& cluster, std::function<Result<std::shared_ptr<cloud::NetworkDriver>>()> open_network) {
  return {"service-lb",
          [cluster, open_network](controllers::ControllerContext& ctx)
              -> Result<std::unique_ptr<controllers::ManagedController>> {
            ServiceLbController::Config c;
            c.cluster = cluster;
            BERTH_ASSIGN_OR_RETURN(c.network, open_network());
            c.workers = ctx.workers;
            if (ctx.recorder) {
              client::EventRecorder* rec = ctx.recorder("service-controller");
              c.event = [rec](const json& ref, bool warning, const std::string& reason, const std::string& msg) {
                rec->event(ref, warning ? client::EventRecorder::Type::kWarning : client::EventRecorder::Type::kNormal,
                           reason, msg);
              };
            }
            return std::unique_ptr<controllers::ManagedController>(
                new ServiceLbController(ctx.client, ctx.informers, std::move(c)));
          },
          true};
}

}  // namespace berth::networking
