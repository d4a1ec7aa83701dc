#include "controllers/endpoints_controller.h"

#include <map>

#include "common/log.h"
#include "controllers/replicaset_controller.h"
#include "controllers/service_endpoints.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

namespace {

constexpr const char kHeadlessLabel[] = "service.kubernetes.io/headless";

json addressFor(const PodEndpoint& ep, const json& service) {
  const json& pod = *ep.pod;
  json a = {{"ip", ep.ip},
            {"targetRef",
             {{"kind", "Pod"}, {"namespace", namespaceOf(pod)}, {"name", nameOf(pod)},
              {"uid", uidOf(pod)}}}};
  std::string node = strAt(pod, {"spec", "nodeName"});
  if (!node.empty()) a["nodeName"] = node;
  std::string hostname = strAt(pod, {"spec", "hostname"});
  if (!hostname.empty() && strAt(pod, {"spec", "subdomain"}) == nameOf(service))
    a["hostname"] = hostname;
  return a;
}

json labelsFor(const json& service) {
  const json& l = jsonAt(service, {"metadata", "labels"});
  json labels = l.is_object() ? l : json::object();
  if (strAt(service, {"spec", "clusterIP"}) == "None") labels[kHeadlessLabel] = "";
  else labels.erase(kHeadlessLabel);
  return labels;
}

json orEmptyArray(const json& v) { return v.is_array() ? v : json::array(); }
json orEmptyObject(const json& v) { return v.is_object() ? v : json::object(); }

}  // namespace

EndpointsController::EndpointsController(client::Client* client, client::InformerFactory* informers,
                                         Config config)
    : client_(client) {
  controller_ = Controller::forConfig("endpoints", config, [this](const std::string& k) { return reconcile(k); });
  services_ = informers->informerFor(res::services());
  pods_ = informers->informerFor(podsResource());
  endpoints_ = informers->informerFor(res::endpoints());
  services_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  pods_->addIndexer(client::kIndexNamespace, client::namespaceIndex);

  auto enqueueObj = [this](const ObjectPtr& o) { controller_->enqueue(client::objectKey(*o)); };
  client::EventHandlers sh;
  sh.on_add = enqueueObj;
  sh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) {
    controller_->enqueue(client::objectKey(*o));
  };
  sh.on_delete = enqueueObj;
  services_->addEventHandlers(std::move(sh));

  client::EventHandlers ph;
  ph.on_add = [this](const ObjectPtr& o) { enqueueForPod(*o); };
  ph.on_update = [this](const ObjectPtr& old_pod, const ObjectPtr& o) {
    if (*old_pod == *o) return;
    enqueueForPod(*old_pod);
    enqueueForPod(*o);
  };
  ph.on_delete = [this](const ObjectPtr& o) { enqueueForPod(*o); };
  pods_->addEventHandlers(std::move(ph));

  // Someone else changed or deleted an Endpoints object: put back what the Service says.
  client::EventHandlers eh;
  eh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) {
    controller_->enqueue(client::objectKey(*o));
  };
  eh.on_delete = enqueueObj;
  endpoints_->addEventHandlers(std::move(eh));
}

EndpointsController::~EndpointsController() { stop(); }

void EndpointsController::start() { controller_->start({services_, pods_, endpoints_}); }
void EndpointsController::stop() { controller_->stop(); }

void EndpointsController::enqueueForPod(const json& pod) {
  for (const auto& key : servicesSelecting(*services_, pod)) controller_->enqueue(key);
}

json EndpointsController::desiredSubsets(const json& service) const {
  bool publish = jsonAt(service, {"spec", "publishNotReadyAddresses"}) == true;
  const json& svc_ports = jsonAt(service, {"spec", "ports"});
  bool has_ports = svc_ports.is_array() && !svc_ports.empty();
  auto eps = podEndpointsFor(service, pods_->byIndex(client::kIndexNamespace, namespaceOf(service)),
                             publish);
  // Pods that resolve the same ports share a subset (upstream's RepackSubsets).
  struct Group {
    json ports;
    json ready = json::array();
    json not_ready = json::array();
  };
  std::map<std::string, Group> groups;
  for (const auto& ep : eps) {
    if (has_ports && ep.ports.empty()) continue;
    Group& g = groups[ep.ports.dump()];
    g.ports = ep.ports;
    (publish || ep.pod_ready ? g.ready : g.not_ready).push_back(addressFor(ep, service));
  }
  json subsets = json::array();
  for (auto& [k, g] : groups) {
    json s = json::object();
    if (!g.ready.empty()) s["addresses"] = std::move(g.ready);
    if (!g.not_ready.empty()) s["notReadyAddresses"] = std::move(g.not_ready);
    if (!g.ports.empty()) s["ports"] = std::move(g.ports);
    subsets.push_back(std::move(s));
  }
  return subsets;
}

ReconcileResult EndpointsController::reconcile(const std::string& key) {
  std::string ns, name;
  client::splitKey(key, &ns, &name);
  ObjectPtr svc = services_->get(key);
  ObjectPtr current = endpoints_->get(key);
  if (!svc) {
    if (!current) return ReconcileResult::ok();
    auto r = client_->remove(res::endpoints(), ns, name,
                             {{"preconditions", {{"uid", uidOf(*current)}}}});
    if (!r.isOk() && r.status().code() != Code::kNotFound)
      return ReconcileResult::fail(r.status().withContext("deleting endpoints " + key));
    BLOG(2, "deleted endpoints of a deleted service").kv("service", key);
    return ReconcileResult::ok();
  }
  if (!serviceHasSelector(*svc)) return ReconcileResult::ok();
  json subsets = desiredSubsets(*svc);
  json labels = labelsFor(*svc);
  if (current && orEmptyArray(jsonAt(*current, {"subsets"})) == subsets &&
      orEmptyObject(jsonAt(*current, {"metadata", "labels"})) == labels)
    return ReconcileResult::ok();
  Result<json> r = json();
  if (!current) {
    json obj = {{"apiVersion", "v1"},
                {"kind", "Endpoints"},
                {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                {"subsets", subsets}};
    r = client_->create(res::endpoints(), ns, obj);
  } else {
    json obj = *current;
    obj["subsets"] = subsets;
    obj["metadata"]["labels"] = labels;
    r = client_->update(res::endpoints(), ns, name, obj);
  }
  if (!r.isOk()) return ReconcileResult::fail(r.status().withContext("writing endpoints " + key));
  BLOG(4, "wrote endpoints").kv("service", key).kv("subsets", subsets.size());
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
