#include "controllers/root_ca_publisher.h"

#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;

namespace {

bool terminating(const json& ns) {
  return ns["metadata"].contains("deletionTimestamp") ||
         (ns.contains("status") && ns["status"].value("phase", "") == "Terminating");
}

}  // namespace

RootCaPublisher::RootCaPublisher(client::Client* client, client::InformerFactory* informers, Config config)
    : client_(client), config_(std::move(config)) {
  namespaces_ = {"", "v1", "namespaces", "Namespace", false, {"get", "list", "watch"}};
  config_maps_ = {"", "v1", "configmaps", "ConfigMap", true, {"get", "list", "watch", "create", "update"}};
  controller_ = Controller::forConfig("root-ca-cert-publisher", config_,
                                      [this](const std::string& k) { return reconcile(k); });
  ns_informer_ = informers->informerFor(namespaces_);
  cm_informer_ = informers->informerFor(config_maps_);
  auto enqueueNs = [this](const ObjectPtr& o) { controller_->enqueue((*o)["metadata"].value("name", "")); };
  client::EventHandlers nh;
  nh.on_add = enqueueNs;
  nh.on_update = [enqueueNs](const ObjectPtr&, const ObjectPtr& o) { enqueueNs(o); };
  ns_informer_->addEventHandlers(std::move(nh));
  auto enqueueCm = [this](const ObjectPtr& o) {
    if ((*o)["metadata"].value("name", "") == kConfigMapName)
      controller_->enqueue((*o)["metadata"].value("namespace", ""));
  };
  client::EventHandlers ch;
  ch.on_update = [enqueueCm](const ObjectPtr&, const ObjectPtr& o) { enqueueCm(o); };
  ch.on_delete = enqueueCm;
  cm_informer_->addEventHandlers(std::move(ch));
}

RootCaPublisher::~RootCaPublisher() { stop(); }

void RootCaPublisher::start() { controller_->start({ns_informer_, cm_informer_}); }

void RootCaPublisher::stop() { controller_->stop(); }

ReconcileResult RootCaPublisher::reconcile(const std::string& ns) {
  ObjectPtr n = ns_informer_->get(ns);
  if (!n || terminating(*n)) return ReconcileResult::ok();
  json data = {{"ca.crt", config_.root_ca_pem}};
  ObjectPtr existing = cm_informer_->get(ns + "/" + kConfigMapName);
  if (!existing) {
    json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
               {"metadata", {{"name", kConfigMapName}, {"namespace", ns},
                             {"annotations", {{"kubernetes.io/description", kDescription}}}}},
               {"data", data}};
    auto created = client_->create(config_maps_, ns, cm);
    if (created.isOk() || created.status().code() == Code::kAlreadyExists) return ReconcileResult::ok();
    // A namespace being deleted refuses new objects; its update comes through the informer.
    if (created.status().code() == Code::kForbidden) return ReconcileResult::ok();
    return ReconcileResult::fail(created.status().withContext("creating configmap " + ns + "/" + kConfigMapName));
  }
  const json& meta = (*existing)["metadata"];
  bool annotated = meta.contains("annotations") && meta["annotations"].is_object() &&
                   meta["annotations"].value("kubernetes.io/description", "") == kDescription;
  if (existing->value("data", json::object()) == data && annotated) return ReconcileResult::ok();
  json cm = *existing;
  cm["data"] = data;
  cm.erase("binaryData");
  if (!cm["metadata"].contains("annotations") || !cm["metadata"]["annotations"].is_object())
    cm["metadata"]["annotations"] = json::object();
  cm["metadata"]["annotations"]["kubernetes.io/description"] = kDescription;
  auto updated = client_->update(config_maps_, ns, kConfigMapName, cm);
  if (!updated.isOk()) {
    // NotFound: deleted meanwhile, its delete event brings the namespace back.
    if (updated.status().code() == Code::kNotFound) return ReconcileResult::ok();
    return ReconcileResult::fail(updated.status().withContext("restoring configmap " + ns + "/" + kConfigMapName));
  }
  BLOG(3, "restored root CA configmap").kv("namespace", ns);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
