#include "cmd/server_extras.h"

#include <filesystem>

#include "client/rest_client.h"

#include "nodegroups/bootstrap/csr_controller.h"
#include "nodegroups/bootstrap/token_cleaner.h"
#include "nodegroups/controller/fargate_controller.h"
#include "nodegroups/controller/launch_setup.h"
#include "nodegroups/controller/nodegroup_controller.h"
#include "networking/local/local_network.h"
#include "networking/routes/route_controller.h"
#include "networking/service_lb/service_lb_controller.h"

namespace berth::cmd {

namespace {

// The NodeGroup and Fargate controllers share one cloud driver, made when the first of them
// starts (the manager starts extras one after another).
void addNodeGroups(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  struct Shared {
    nodegroups::CloudOptions cloud;
    nodegroups::UserDataSource::Params ud;
    std::shared_ptr<berth::cloud::CloudDriver> driver;
    bool made = false;
    Result<std::shared_ptr<berth::cloud::CloudDriver>> get() {
      if (!made) {
        BERTH_ASSIGN_OR_RETURN(driver, nodegroups::newCloudDriver(cloud));
        made = true;
      }
      return driver;
    }
    std::function<nodegroups::UserDataFn(client::Client*)> userData() const {
      return [ud = ud](client::Client* client) {
        auto src = std::make_shared<nodegroups::UserDataSource>(client, ud);
        return nodegroups::UserDataFn(
            [src](const nodegroups::LaunchSpec& s) { return src->render(s); });
      };
    }
  };
  auto shared = std::make_shared<Shared>();
  shared->cloud = {o.cloud_provider, o.cluster_name, o.cloud_state_dir, o.kubeconfig};
  shared->ud = {o.cluster_name, o.server_url, o.data_dir + "/pki/ca.crt", o.service_cidr};
  co.extra.push_back({"nodegroup", [shared](controllers::ControllerContext& ctx)
                                       -> Result<std::unique_ptr<controllers::ManagedController>> {
    BERTH_ASSIGN_OR_RETURN(auto driver, shared->get());
    nodegroups::NodeGroupController::Config c;
    c.cluster_name = shared->cloud.cluster_name;
    c.cloud = driver.get();
    c.cloud_owner = driver;
    c.user_data_factory = shared->userData();
    return nodegroups::nodeGroupControllerFactory(c)(ctx);
  }, true});
  // Fargate pods need instances: without a cloud there is nothing to run them on.
  if (o.cloud_provider.empty()) return;
  co.extra.push_back({"fargate", [shared](controllers::ControllerContext& ctx)
                                     -> Result<std::unique_ptr<controllers::ManagedController>> {
    BERTH_ASSIGN_OR_RETURN(auto driver, shared->get());
    nodegroups::FargateController::Config c;
    c.cluster_name = shared->cloud.cluster_name;
    c.cloud = driver.get();
    c.cloud_owner = driver;
    c.user_data_factory = shared->userData();
    return nodegroups::fargateControllerFactory(c)(ctx);
  }, true});
}

// Route controller: each node's pod CIDR routed to its instance in the local cloud's VPC.
void addRoutes(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  if (o.cloud_provider != "local") return;
  networking::LocalNetwork::Options net{o.cluster_name, o.cloud_state_dir};
  co.extra.push_back(networking::routeControllerExtra(
      [net]() -> Result<std::shared_ptr<berth::cloud::NetworkDriver>> {
        // The network alone (state and lock shared with the cloud driver's own instance).
        BERTH_ASSIGN_OR_RETURN(auto network, networking::LocalNetwork::open(net));
        return std::shared_ptr<berth::cloud::NetworkDriver>(std::move(network));
      }));
}

// Service load balancers: each Service of type LoadBalancer gets a balancer from the cloud's
// network (the local cloud's HAProxy, the simulated cloud's fake addresses).
void addServiceLoadBalancers(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  if (o.cloud_provider.empty()) return;
  nodegroups::CloudOptions cloud{o.cloud_provider, o.cluster_name, o.cloud_state_dir, o.kubeconfig};
  co.extra.push_back(networking::serviceLbControllerExtra(
      o.cluster_name, [cloud]() -> Result<std::shared_ptr<berth::cloud::NetworkDriver>> {
        if (cloud.provider == "local") {
          BERTH_ASSIGN_OR_RETURN(auto network,
                                 networking::LocalNetwork::open({cloud.cluster_name, cloud.state_dir}));
          return std::shared_ptr<berth::cloud::NetworkDriver>(std::move(network));
        }
        // Its own driver instance: the simulated cloud keeps its balancers in its state dir.
        BERTH_ASSIGN_OR_RETURN(auto driver, nodegroups::newCloudDriver(cloud));
        return std::shared_ptr<berth::cloud::NetworkDriver>(driver, &driver->network());
      }));
}

}  // namespace

void addServerExtras(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  // Modules append {name, factory, on_by_default} here, one block each.
  {
    // Node bootstrap: approve and sign node client CSRs with the cluster CA; delete expired
    // bootstrap tokens.
    namespace nb = nodegroups::bootstrap;
    std::string pki = (std::filesystem::path(o.data_dir) / "pki").string();
    co.extra.push_back({"csr", [pki](controllers::ControllerContext& ctx)
                                   -> Result<std::unique_ptr<controllers::ManagedController>> {
      nb::CsrController::Config c;
      c.workers = ctx.workers;
      c.ca_cert_file = pki + "/ca.crt";
      c.ca_key_file = pki + "/ca.key";
      BERTH_ASSIGN_OR_RETURN(auto csr, nb::CsrController::create(ctx.client, ctx.informers, c));
      return std::unique_ptr<controllers::ManagedController>(std::move(csr));
    }, true});
    co.extra.push_back({"tokencleaner", [](controllers::ControllerContext& ctx)
                                            -> Result<std::unique_ptr<controllers::ManagedController>> {
      return std::unique_ptr<controllers::ManagedController>(
          std::make_unique<nb::TokenCleaner>(ctx.client, ctx.informers, nb::TokenCleaner::Config()));
    }, true});
  }
  addNodeGroups(co, o);
  addRoutes(co, o);
  addServiceLoadBalancers(co, o);
}

}  // namespace berth::cmd
