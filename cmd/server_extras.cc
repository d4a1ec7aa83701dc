#include "cmd/server_extras.h"

#include <filesystem>

#include "client/rest_client.h"

#include "nodegroups/bootstrap/csr_controller.h"
#include "nodegroups/bootstrap/token_cleaner.h"

namespace berth::cmd {

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
  (void)co;
  (void)o;
}

}  // namespace berth::cmd
