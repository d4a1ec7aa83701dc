#include "controllers/serviceaccount_controller.h"

#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;

namespace {

constexpr const char* kDefaultName = "default";

}  // namespace

ServiceAccountController::ServiceAccountController(client::Client* client, client::InformerFactory* informers,
                                                   Config config)
    : client_(client) {
  namespaces_ = {"", "v1", "namespaces", "Namespace", false, {"get", "list", "watch"}};
  service_accounts_ = {"", "v1", "serviceaccounts", "ServiceAccount", true, {"get", "list", "watch", "create"}};
  controller_ = Controller::forConfig("serviceaccount", config, [this](const std::string& k) { return reconcile(k); });
  ns_informer_ = informers->informerFor(namespaces_);
  sa_informer_ = informers->informerFor(service_accounts_);
  client::EventHandlers nh;
  nh.on_add = [this](const ObjectPtr& o) { controller_->enqueue((*o)["metadata"].value("name", "")); };
  ns_informer_->addEventHandlers(std::move(nh));
  client::EventHandlers sh;
  sh.on_delete = [this](const ObjectPtr& o) {
    if ((*o)["metadata"].value("name", "") == kDefaultName)
      controller_->enqueue((*o)["metadata"].value("namespace", ""));
  };
  sa_informer_->addEventHandlers(std::move(sh));
}

ServiceAccountController::~ServiceAccountController() { stop(); }

void ServiceAccountController::start() { controller_->start({ns_informer_, sa_informer_}); }

void ServiceAccountController::stop() { controller_->stop(); }

ReconcileResult ServiceAccountController::reconcile(const std::string& ns) {
  ObjectPtr n = ns_informer_->get(ns);
  if (!n || (*n)["metadata"].contains("deletionTimestamp")) return ReconcileResult::ok();
  if (sa_informer_->get(ns + "/" + kDefaultName)) return ReconcileResult::ok();
  json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"},
             {"metadata", {{"name", kDefaultName}, {"namespace", ns}}}};
  auto created = client_->create(service_accounts_, ns, sa);
  if (!created.isOk() && created.status().code() != Code::kAlreadyExists) {
    // A namespace being deleted refuses new objects; its update will come through the informer.
    if (created.status().code() == Code::kForbidden) return ReconcileResult::ok();
    return ReconcileResult::fail(created.status().withContext("creating serviceaccount " + ns + "/default"));
  }
  BLOG(3, "created default service account").kv("namespace", ns);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
