// RouteController: kube-controller-manager's route controller for Berth's clouds. For every
// Node with a spec.podCIDR and a spec.providerID "<provider>:///<zone>/<instance id>" it asks the
// cloud to route the pod CIDR to the instance (NetworkDriver::ensureRoute), so pods on nodes in
// different network namespaces (the local cloud's instances) reach each other through the VPC
// router; when the Node goes (or its CIDR changes) the old route is deleted. Nodes the cloud does
// not know (kNotFound: an agent outside the cloud) are looked at again after a minute.
// On start (once the Node cache has synced) it lists the cloud's routes and deletes those of pod
// CIDRs no Node has (nodes deleted, or whose CIDR changed, while the server was down); a cloud
// without route listing (kMethodNotAllowed) skips that.
// Thread-safety: start/stop from one thread; reconcile runs on the runner's workers.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controllers/controller.h"
#include "controllers/controller_manager.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

// The instance id of "aws:///us-west-2a/i-0abc" / "local:///local-1a/i-0abc"; "" otherwise.
std::string instanceIdFromProviderId(const std::string& provider_id);

class RouteController : public controllers::ManagedController {
 public:
  RouteController(client::InformerFactory* informers, std::shared_ptr<cloud::NetworkDriver> network,
                  int workers);
  void start() override;
  void stop() override;
  controllers::ReconcileResult reconcile(const std::string& node);
  // What reconcile does with the cached Node (null: deleted).
  controllers::ReconcileResult sync(const std::string& node, const client::json* obj);
  // Deletes the cloud's routes of pod CIDRs that no cached Node of the cloud has.
  controllers::ReconcileResult removeStaleRoutes();
  // The work-queue key of removeStaleRoutes (not a valid node name).
  static constexpr char kStaleRoutesKey[] = " stale-routes";

 private:
  client::Informer* nodes_;
  std::shared_ptr<cloud::NetworkDriver> network_;
  std::unique_ptr<controllers::Controller> controller_;
  std::mutex mu_;
  std::map<std::string, std::string> routed_;  // node -> CIDR routed for it (guarded by mu_)
};

// The extra controller "route" for `berth server`, opening the cloud's network on start.
controllers::ExtraController routeControllerExtra(
    std::function<Result<std::shared_ptr<cloud::NetworkDriver>>()> open_network);

}  // namespace berth::networking
