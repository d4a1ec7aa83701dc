// CsrController: kube-controller-manager's csrapproving and csrsigning controllers for node
// client certificates, in one loop per CertificateSigningRequest:
//  - approve (condition Approved, reason AutoApproved, through /approval) what decideCsr()
//    approves: kubernetes.io/kube-apiserver-client-kubelet CSRs from bootstrappers and node
//    renewals; everything else is left for someone else to approve or deny;
//  - sign (status.certificate, through /status) approved, not yet issued CSRs for the
//    kube-apiserver-client-kubelet and kube-apiserver-client signers with the cluster CA, for
//    spec.expirationSeconds within [10m, max_duration]; a kubelet CSR whose content is not a
//    node client certificate gets the Failed condition (SignerValidationFailure) instead.
// Thread-safety: start/stop from one thread; reconcile runs on the runner's workers.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/client.h"
#include "client/informer.h"
#include "common/time_util.h"
#include "controllers/controller.h"
#include "controllers/controller_manager.h"

namespace berth::nodegroups::bootstrap {

using json = nlohmann::json;

const client::Resource& csrResource();

class CsrController : public controllers::ManagedController {
 public:
  struct Config {
    int workers = 2;
    std::string ca_cert_file;  // the cluster CA (PEM), <data-dir>/pki/ca.crt
    std::string ca_key_file;
    std::chrono::seconds max_duration{std::chrono::hours(24 * 365)};  // --cluster-signing-duration
    const Clock* clock = nullptr;  // default SystemClock
  };
  // Fails when the CA cannot be read.
  static Result<std::unique_ptr<CsrController>> create(client::Client* client,
                                                       client::InformerFactory* informers,
                                                       Config config);
  // With the CA given as PEM (tests).
  CsrController(client::Client* client, client::InformerFactory* informers, Config config,
                std::string ca_cert_pem, std::string ca_key_pem);
  ~CsrController() override;

  void start() override;
  void stop() override;
  controllers::ReconcileResult reconcile(const std::string& key);

 private:
  controllers::ReconcileResult approve(const json& csr, const std::string& message);
  controllers::ReconcileResult sign(const json& csr);
  json condition(const std::string& type, const std::string& reason, const std::string& message) const;

  client::Client* client_;
  Config config_;
  const Clock* clock_;
  std::string ca_cert_pem_, ca_key_pem_;
  client::Informer* csrs_;
  std::unique_ptr<controllers::Controller> controller_;
};

}  // namespace berth::nodegroups::bootstrap
