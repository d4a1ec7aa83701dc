#include "controllers/endpointslice_controller.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/log.h"
#include "controllers/service_endpoints.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

const char kServiceNameLabel[] = "kubernetes.io/service-name";
const char kSliceManagedByLabel[] = "endpointslice.kubernetes.io/managed-by";
const char kSliceControllerName[] = "endpointslice-controller.k8s.io";

namespace {

constexpr const char kIndexService[] = "service";
constexpr const char kZoneLabel[] = "topology.kubernetes.io/zone";

bool managedByUs(const json& slice) {
  return strAt(slice, {"metadata", "labels", kSliceManagedByLabel}) == kSliceControllerName &&
         !strAt(slice, {"metadata", "labels", kServiceNameLabel}).empty();
}

std::vector<std::string> serviceIndex(const json& slice) {
  if (!managedByUs(slice)) return {};
  return {namespaceOf(slice) + "/" + strAt(slice, {"metadata", "labels", kServiceNameLabel})};
}

json sliceLabels(const json& service) {
  const json& l = jsonAt(service, {"metadata", "labels"});
  json labels = l.is_object() ? l : json::object();
  labels[kServiceNameLabel] = nameOf(service);
  labels[kSliceManagedByLabel] = kSliceControllerName;
  if (strAt(service, {"spec", "clusterIP"}) == "None") labels["service.kubernetes.io/headless"] = "";
  return labels;
}

// The identity of an endpoint across reconciles: its pod's uid (else its address).
std::string endpointId(const json& ep) {
  std::string uid = strAt(ep, {"targetRef", "uid"});
  if (!uid.empty()) return uid;
  const json& a = jsonAt(ep, {"addresses"});
  return a.is_array() && !a.empty() && a[0].is_string() ? a[0].get<std::string>() : "";
}

json arrayOr(const json& v) { return v.is_array() ? v : json::array(); }

}  // namespace

struct EndpointSliceController::Slice {
  json obj;  // the cached slice, or the skeleton of a new one
  std::string port_key;
  json ports = json::array();
  json endpoints = json::array();
  bool exists = false;
  bool remove = false;
};

EndpointSliceController::EndpointSliceController(client::Client* client,
                                                 client::InformerFactory* informers, Config config)
    : client_(client),
      config_(std::move(config)),
      expectations_(config_.clock ? config_.clock : &SystemClock::instance(),
                    config_.expectations_ttl) {
  controller_ = Controller::forConfig("endpointslice", config_, [this](const std::string& k) { return reconcile(k); });
  services_ = informers->informerFor(res::services());
  pods_ = informers->informerFor(podsResource());
  slices_ = informers->informerFor(res::endpointSlices());
  nodes_ = informers->informerFor(res::nodes());
  services_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  pods_->addIndexer(client::kIndexNamespace, client::namespaceIndex);
  slices_->addIndexer(kIndexService, serviceIndex);

  client::EventHandlers sh = controller_->keyHandlers(false);
  sh.on_delete = [this](const ObjectPtr& o) {
    expectations_.forget(client::objectKey(*o));
    controller_->enqueue(client::objectKey(*o));
  };
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

  client::EventHandlers slh;
  slh.on_add = [this](const ObjectPtr& o) { enqueueForSlice(*o, true); };
  slh.on_update = [this](const ObjectPtr&, const ObjectPtr& o) { enqueueForSlice(*o, false); };
  slh.on_delete = [this](const ObjectPtr& o) { enqueueForSlice(*o, false); };
  slices_->addEventHandlers(std::move(slh));
}

EndpointSliceController::~EndpointSliceController() { stop(); }

void EndpointSliceController::start() { controller_->start({services_, pods_, slices_, nodes_}); }
void EndpointSliceController::stop() { controller_->stop(); }

void EndpointSliceController::enqueueForPod(const json& pod) {
  for (const auto& key : servicesSelecting(*services_, pod)) controller_->enqueue(key);
}

void EndpointSliceController::enqueueForSlice(const json& slice, bool added) {
  for (const auto& key : serviceIndex(slice)) {
    if (added) expectations_.creationObserved(key);
    controller_->enqueue(key);
  }
}

EndpointSliceController::Desired EndpointSliceController::desiredEndpoints(const json& service) const {
  bool publish = jsonAt(service, {"spec", "publishNotReadyAddresses"}) == true;
  const json& svc_ports = jsonAt(service, {"spec", "ports"});
  bool has_ports = svc_ports.is_array() && !svc_ports.empty();
  Desired out;
  for (const auto& pe : podEndpointsFor(
           service, pods_->byIndex(client::kIndexNamespace, namespaceOf(service)), true)) {
    if (has_ports && pe.ports.empty()) continue;
    const json& pod = *pe.pod;
    bool serving = publish || pe.pod_ready;
    json ep = {{"addresses", json::array({pe.ip})},
               {"conditions",
                {{"ready", publish || (serving && !pe.terminating)},
                 {"serving", serving},
                 {"terminating", pe.terminating}}},
               {"targetRef",
                {{"kind", "Pod"}, {"namespace", namespaceOf(pod)}, {"name", nameOf(pod)},
                 {"uid", uidOf(pod)}}}};
    std::string node = strAt(pod, {"spec", "nodeName"});
    if (!node.empty()) {
      ep["nodeName"] = node;
      if (ObjectPtr n = nodes_->get(node)) {
        std::string zone = strAt(*n, {"metadata", "labels", kZoneLabel});
        if (!zone.empty()) ep["zone"] = zone;
      }
    }
    std::string hostname = strAt(pod, {"spec", "hostname"});
    if (!hostname.empty() && strAt(pod, {"spec", "subdomain"}) == nameOf(service))
      ep["hostname"] = hostname;
    out[pe.ports.dump()].emplace_back(endpointId(ep), std::move(ep));
  }
  return out;
}

ReconcileResult EndpointSliceController::reconcile(const std::string& key) {
  ObjectPtr svc = services_->get(key);
  if (!svc || !serviceHasSelector(*svc) || isDeleting(*svc)) return ReconcileResult::ok();
  // A slice we created is not in the cache yet: its add event brings the key back.
  if (!expectations_.satisfied(key)) return ReconcileResult::ok();

  Desired desired = desiredEndpoints(*svc);
  size_t total = 0;
  for (const auto& [pk, eps] : desired) total += eps.size();
  std::vector<ObjectPtr> cached = slices_->byIndex(kIndexService, key);
  std::sort(cached.begin(), cached.end(),
            [](const ObjectPtr& a, const ObjectPtr& b) { return nameOf(*a) < nameOf(*b); });

  // Keep each endpoint where it is; note what is still to place.
  std::vector<Slice> slices;
  std::map<std::string, std::set<std::string>> placed;
  for (const auto& c : cached) {
    if (isDeleting(*c)) continue;
    Slice s;
    s.obj = *c;
    s.exists = true;
    s.ports = arrayOr(jsonAt(*c, {"ports"}));
    s.port_key = s.ports.dump();
    auto want = desired.find(s.port_key);
    if (strAt(*c, {"addressType"}) != "IPv4" || want == desired.end()) {
      s.remove = true;
      slices.push_back(std::move(s));
      continue;
    }
    std::map<std::string, const json*> by_id;
    for (const auto& [id, ep] : want->second) by_id[id] = &ep;
    for (const auto& ep : arrayOr(jsonAt(*c, {"endpoints"}))) {
      std::string id = endpointId(ep);
      auto it = by_id.find(id);
      if (it == by_id.end() || placed[s.port_key].count(id)) continue;
      placed[s.port_key].insert(id);
      s.endpoints.push_back(*it->second);
    }
    slices.push_back(std::move(s));
  }
  // Then fill slices with room, then new slices.
  const size_t max = static_cast<size_t>(std::max(1, config_.max_endpoints_per_slice));
  for (const auto& [pk, eps] : desired) {
    for (const auto& [id, ep] : eps) {
      if (placed[pk].count(id)) continue;
      Slice* room = nullptr;
      for (auto& s : slices)
        if (!s.remove && s.port_key == pk && s.endpoints.size() < max) {
          room = &s;
          break;
        }
      if (!room) {
        Slice s;
        s.port_key = pk;
        s.ports = json::parse(pk);
        slices.push_back(std::move(s));
        room = &slices.back();
      }
      room->endpoints.push_back(ep);
      placed[pk].insert(id);
    }
  }
  // Empty slices go, except one placeholder when the Service has no endpoints at all.
  bool placeholder_kept = false;
  for (auto& s : slices) {
    if (total == 0 && !placeholder_kept && s.exists) {
      s.remove = false;
      s.ports = json::array();
      s.port_key = "[]";
      s.endpoints = json::array();
      placeholder_kept = true;
      continue;
    }
    if (s.endpoints.empty()) s.remove = true;
  }
  if (total == 0 && !placeholder_kept) slices.push_back(Slice{json::object(), "[]"});
  Status st = write(key, *svc, slices);
  if (!st.isOk()) return ReconcileResult::fail(st);
  return ReconcileResult::ok();
}

Status EndpointSliceController::write(const std::string& key, const json& service,
                                      std::vector<Slice>& slices) {
  std::string ns = namespaceOf(service);
  json labels = sliceLabels(service);
  json owner = json::array({controllerRefTo("v1", "Service", service)});
  int creates = 0;
  for (const auto& s : slices) creates += !s.exists;
  if (creates > 0) expectations_.expectCreations(key, creates);
  Status first_err;
  auto note = [&](const Status& st) {
    if (!st.isOk() && st.code() != Code::kNotFound && first_err.isOk()) first_err = st;
  };
  int created = 0, updated = 0, deleted = 0;
  for (auto& s : slices) {
    if (s.remove) {
      auto r = client_->remove(res::endpointSlices(), ns, nameOf(s.obj),
                               {{"preconditions", {{"uid", uidOf(s.obj)}}}});
      note(r.status());
      deleted += r.isOk();
      continue;
    }
    if (!s.exists) {
      json obj = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata",
                   {{"generateName", nameOf(service) + "-"}, {"namespace", ns}, {"labels", labels},
                    {"ownerReferences", owner}}},
                  {"addressType", "IPv4"},
                  {"endpoints", s.endpoints},
                  {"ports", s.ports}};
      auto r = client_->create(res::endpointSlices(), ns, obj);
      if (!r.isOk()) expectations_.creationObserved(key);
      note(r.status());
      created += r.isOk();
      continue;
    }
    if (arrayOr(jsonAt(s.obj, {"endpoints"})) == s.endpoints &&
        arrayOr(jsonAt(s.obj, {"ports"})) == s.ports &&
        jsonAt(s.obj, {"metadata", "labels"}) == labels &&
        jsonAt(s.obj, {"metadata", "ownerReferences"}) == owner)
      continue;
    json obj = s.obj;
    obj["endpoints"] = s.endpoints;
    obj["ports"] = s.ports;
    obj["metadata"]["labels"] = labels;
    obj["metadata"]["ownerReferences"] = owner;
    auto r = client_->update(res::endpointSlices(), ns, nameOf(s.obj), obj);
    note(r.status());
    updated += r.isOk();
  }
  if (created + updated + deleted > 0)
    BLOG(4, "synced endpointslices").kv("service", key).kv("created", created)
        .kv("updated", updated).kv("deleted", deleted);
  if (!first_err.isOk()) return first_err.withContext("syncing endpointslices of " + key);
  return Status::ok();
}

}  // namespace berth::controllers
