#include "networking/routes/route_controller.h"

#include <set>

#include "common/log.h"

namespace berth::networking {

using controllers::ReconcileResult;

namespace {

const client::Resource& nodes() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, {}};
  return r;
}

std::string specField(const client::json& node, const char* key) {
  auto spec = node.find("spec");
  if (spec == node.end() || !spec->is_object()) return "";
  auto it = spec->find(key);
  return it != spec->end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string instanceIdFromProviderId(const std::string& provider_id) {
  auto scheme = provider_id.find(":///");
  if (scheme == std::string::npos || scheme == 0) return "";
  auto slash = provider_id.rfind('/');
  std::string id = provider_id.substr(slash + 1);
  return slash > scheme + 3 && !id.empty() ? id : "";
}

RouteController::RouteController(client::InformerFactory* informers,
                                 std::shared_ptr<cloud::NetworkDriver> network, int workers)
    : nodes_(informers->informerFor(nodes())), network_(std::move(network)) {
  controllers::Controller::Options co;
  co.name = "route";
  co.workers = workers;
  controller_ = std::make_unique<controllers::Controller>(
      co, [this](const std::string& k) { return reconcile(k); });
  nodes_->addEventHandlers(controller_->keyHandlers(true));
}

void RouteController::start() {
  controller_->enqueue(kStaleRoutesKey);  // taken once the workers run, after the cache synced
  controller_->start({nodes_});
}
void RouteController::stop() { controller_->stop(); }

ReconcileResult RouteController::reconcile(const std::string& node) {
  if (node == kStaleRoutesKey) return removeStaleRoutes();
  client::ObjectPtr obj = nodes_->get(node);
  return sync(node, obj.get());
}

ReconcileResult RouteController::sync(const std::string& node, const client::json* obj) {
  std::string cidr = obj ? specField(*obj, "podCIDR") : "";
  std::string instance = obj ? instanceIdFromProviderId(specField(*obj, "providerID")) : "";
  std::string old;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = routed_.find(node);
    if (it != routed_.end()) old = it->second;
  }
  if (!old.empty() && (old != cidr || instance.empty())) {
    Status st = network_->deleteRoute(old);
    if (!st.isOk()) return ReconcileResult::fail(st.withContext("deleting route " + old));
    BLOG(2, "route deleted").kv("node", node).kv("cidr", old);
    std::lock_guard<std::mutex> l(mu_);
    routed_.erase(node);
  }
  if (cidr.empty() || instance.empty()) return ReconcileResult::ok();
  Status st = network_->ensureRoute(cidr, instance);
  if (st.code() == Code::kNotFound) {
    BLOG(2, "route: node's instance is not in this cloud").kv("node", node).kv("instance", instance);
    return ReconcileResult::after(std::chrono::minutes(1));
  }
  if (!st.isOk()) return ReconcileResult::fail(st.withContext("routing " + cidr + " to " + instance));
  std::lock_guard<std::mutex> l(mu_);
  if (routed_[node] != cidr) BLOG(2, "route ensured").kv("node", node).kv("cidr", cidr).kv("instance", instance);
  routed_[node] = cidr;
  return ReconcileResult::ok();
}

ReconcileResult RouteController::removeStaleRoutes() {
  // Routes first, then the cache: a route made after the listing is for a node the cache has.
  auto routes = network_->listRoutes();
  if (routes.status().code() == Code::kMethodNotAllowed) return ReconcileResult::ok();
  if (!routes.isOk()) return ReconcileResult::fail(routes.status().withContext("listing routes"));
  // A CIDR a Node still has is left alone even when routed to another instance: that Node's
  // own reconcile replaces the route (deleting it here could undo a replacement just made).
  std::set<std::string> wanted;
  for (const client::ObjectPtr& n : nodes_->list()) {
    std::string cidr = specField(*n, "podCIDR");
    if (!cidr.empty() && !instanceIdFromProviderId(specField(*n, "providerID")).empty()) wanted.insert(cidr);
  }
  for (const auto& [cidr, instance] : *routes) {
    if (wanted.count(cidr)) continue;
    Status st = network_->deleteRoute(cidr);
    if (!st.isOk()) return ReconcileResult::fail(st.withContext("deleting stale route " + cidr));
    BLOG(1, "stale route deleted: no node routes it").kv("cidr", cidr).kv("instance", instance);
  }
  return ReconcileResult::ok();
}

controllers::ExtraController routeControllerExtra(
    std::function<Result<std::shared_ptr<cloud::NetworkDriver>>()> open_network) {
  return {"route",
          [open_network](controllers::ControllerContext& ctx)
              -> Result<std::unique_ptr<controllers::ManagedController>> {
            BERTH_ASSIGN_OR_RETURN(auto network, open_network());
            return std::unique_ptr<controllers::ManagedController>(
                new RouteController(ctx.informers, std::move(network), ctx.workers));
          },
          true};
}

}  // namespace berth::networking
