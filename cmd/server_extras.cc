#include "cmd/server_extras.h"

#include <filesystem>

#include "client/rest_client.h"

#include "nodegroups/bootstrap/csr_controller.h"
#include "nodegroups/bootstrap/token_cleaner.h"
#include "nodegroups/controller/launch_setup.h"
#include "nodegroups/controller/nodegroup_controller.h"

namespace berth::cmd {

namespace {

// NodeGroup controller: instances through the cloud driver (none: it counts joined nodes).
void addNodeGroups(controllers::ControllerManagerOptions& co, const ServerExtrasOptions& o) {
  nodegroups::CloudOptions cloud{o.cloud_provider, o.cluster_name, o.cloud_state_dir, o.kubeconfig};
  nodegroups::UserDataSource::Params ud{o.cluster_name, o.server_url, o.data_dir + "/pki/ca.crt",
                                        o.service_cidr};
  auto factory = [cloud, ud](controllers::ControllerContext& ctx)
      -> Result<std::unique_ptr<controllers::ManagedController>> {
    BERTH_ASSIGN_OR_RETURN(std::shared_ptr<berth::cloud::CloudDriver> driver,
                           nodegroups::newCloudDriver(cloud));
    nodegroups::NodeGroupController::Config c;
    c.cluster_name = cloud.cluster_name;
    c.cloud = driver.get();
    c.cloud_owner = driver;
    c.user_data_factory = [ud](client::Client* client) {
      auto src = std::make_shared<nodegroups::UserDataSource>(client, ud);
      return nodegroups::UserDataFn(
          [src](const nodegroups::LaunchSpec& s) { return src->render(s); });
    };
    return nodegroups::nodeGroupControllerFactory(c)(ctx);
  };
  co.extra.push_back({"nodegroup", factory, true});
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
}

}  // namespace berth::cmd
