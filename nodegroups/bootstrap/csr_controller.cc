#include "nodegroups/bootstrap/csr_controller.h"

#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/csr.h"

namespace berth::nodegroups::bootstrap {

using controllers::ReconcileResult;

namespace {

Result<std::string> readWhole(const std::string& path) {
  std::ifstream f(path);
  if (!f) return notFound("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool hasCondition(const json& csr, const std::string& type) {
  auto st = csr.find("status");
  if (st == csr.end() || !st->is_object() || !st->contains("conditions")) return false;
  for (const auto& c : (*st)["conditions"])
    if (c.is_object() && c.value("type", "") == type) return true;
  return false;
}

std::string specString(const json& csr, const char* field) {
  auto spec = csr.find("spec");
  return spec != csr.end() && spec->is_object() ? spec->value(field, "") : "";
}

}  // namespace

const client::Resource& csrResource() {
  static const client::Resource r{"certificates.k8s.io", "v1", "certificatesigningrequests",
                                  "CertificateSigningRequest", false, {}};
  return r;
}

Result<std::unique_ptr<CsrController>> CsrController::create(client::Client* client,
                                                             client::InformerFactory* informers,
                                                             Config config) {
  BERTH_ASSIGN_OR_RETURN(std::string cert, readWhole(config.ca_cert_file));
  BERTH_ASSIGN_OR_RETURN(std::string key, readWhole(config.ca_key_file));
  return std::make_unique<CsrController>(client, informers, std::move(config), std::move(cert), std::move(key));
}

CsrController::CsrController(client::Client* client, client::InformerFactory* informers,
                             Config config, std::string ca_cert_pem, std::string ca_key_pem)
    : client_(client),
      config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &SystemClock::instance()),
      ca_cert_pem_(std::move(ca_cert_pem)),
      ca_key_pem_(std::move(ca_key_pem)) {
  controllers::Controller::Options co;
  co.name = "csr";
  co.workers = config_.workers;
  controller_ = std::make_unique<controllers::Controller>(
      co, [this](const std::string& k) { return reconcile(k); });
  csrs_ = informers->informerFor(csrResource());
  client::EventHandlers h;
  h.on_add = [this](const client::ObjectPtr& o) { controller_->enqueue(client::objectKey(*o)); };
  h.on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& o) {
    controller_->enqueue(client::objectKey(*o));
  };
  csrs_->addEventHandlers(std::move(h));
}

CsrController::~CsrController() { stop(); }

void CsrController::start() { controller_->start({csrs_}); }
void CsrController::stop() { controller_->stop(); }

json CsrController::condition(const std::string& type, const std::string& reason,
                              const std::string& message) const {
  std::string now = formatRfc3339(clock_->now());
  return {{"type", type}, {"status", "True"}, {"reason", reason}, {"message", message},
          {"lastUpdateTime", now}, {"lastTransitionTime", now}};
}

ReconcileResult CsrController::reconcile(const std::string& key) {
  client::ObjectPtr obj = csrs_->get(key);
  if (!obj) return ReconcileResult::ok();
  const json& csr = *obj;
  if (hasCondition(csr, "Denied") || hasCondition(csr, "Failed")) return ReconcileResult::ok();
  if (!hasCondition(csr, "Approved")) {
    CsrDecision d = decideCsr(csr);
    if (!d.approve) {
      BLOG(4, "csr not auto-approved").kv("csr", key).kv("reason", d.reason);
      return ReconcileResult::ok();
    }
    return approve(csr, d.reason);
  }
  if (!csr.contains("status") || csr["status"].value("certificate", "").empty()) return sign(csr);
  return ReconcileResult::ok();
}

ReconcileResult CsrController::approve(const json& csr, const std::string& message) {
  json updated = csr;
  updated["status"]["conditions"].push_back(condition("Approved", "AutoApproved", message));
  std::string name = csr["metadata"].value("name", "");
  auto r = client_->update(csrResource(), "", name, updated, "approval");
  if (!r.isOk()) return ReconcileResult::fail(r.status().withContext("approving csr " + name));
  BLOG(2, "csr approved").kv("csr", name).kv("requestor", specString(csr, "username"));
  return ReconcileResult::ok();
}

ReconcileResult CsrController::sign(const json& csr) {
  std::string signer = specString(csr, "signerName");
  if (signer != kKubeletClientSigner && signer != kApiServerClientSigner) return ReconcileResult::ok();
  std::string name = csr["metadata"].value("name", "");
  json updated = csr;
  auto pem = csrRequestPem(csr);
  auto content = pem.isOk() ? parseCsrPem(*pem) : Result<CsrContent>(pem.status());
  std::string invalid_reason;
  if (!content.isOk()) {
    invalid_reason = content.status().message();
  } else if (signer == kKubeletClientSigner) {
    // The approver may have been a person; the signer still refuses what is not a node client.
    json probe = csr;
    probe["status"]["conditions"] = json::array();
    probe["spec"]["username"] = content->common_name;
    CsrDecision d = decideCsr(probe);
    if (!d.approve) invalid_reason = d.reason;
  }
  if (!invalid_reason.empty()) {
    updated["status"]["conditions"].push_back(condition("Failed", "SignerValidationFailure", invalid_reason));
  } else {
    auto cert = signClientCsr(*pem, ca_cert_pem_, ca_key_pem_,
                              certificateDuration(csr, config_.max_duration), clock_->now());
    if (!cert.isOk()) return ReconcileResult::fail(cert.status().withContext("signing csr " + name));
    updated["status"]["certificate"] = base64Encode(*cert);
  }
  auto r = client_->update(csrResource(), "", name, updated, "status");
  if (!r.isOk()) return ReconcileResult::fail(r.status().withContext("writing csr " + name + " status"));
  BLOG(2, invalid_reason.empty() ? "csr signed" : "csr failed").kv("csr", name).kv("signer", signer)
      .kv("reason", invalid_reason);
  return ReconcileResult::ok();
}

}  // namespace berth::nodegroups::bootstrap
