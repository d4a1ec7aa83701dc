#include "controllers/resourcequota_controller.h"

#include <map>
#include <set>

#include "apiserver/kinds/quantity.h"
#include "apiserver/kinds/quota.h"
#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;

namespace {

std::string keyOf(const json& obj) {
  const json& m = obj["metadata"];
  return m.value("namespace", "") + "/" + m.value("name", "");
}

json hardOf(const json& quota) {
  if (!quota.contains("spec") || !quota["spec"].is_object()) return json::object();
  json hard = quota["spec"].value("hard", json::object());
  return hard.is_object() ? hard : json::object();
}

}  // namespace

ResourceQuotaController::ResourceQuotaController(client::Client* client,
                                                 client::InformerFactory* informers, Config config)
    : client_(client), config_(std::move(config)) {
  quotas_ = {"", "v1", "resourcequotas", "ResourceQuota", true, {"get", "list", "watch", "update"}};
  pods_ = {"", "v1", "pods", "Pod", true, {"get", "list", "watch"}};
  services_ = {"", "v1", "services", "Service", true, {"get", "list", "watch"}};
  controller_ = Controller::forConfig("resourcequota-controller", config_,
                                      [this](const std::string& k) { return reconcile(k); });
  quota_informer_ = informers->informerFor(quotas_);
  pod_informer_ = informers->informerFor(pods_);
  service_informer_ = informers->informerFor(services_);

  client::EventHandlers qh;
  qh.on_add = [this](const ObjectPtr& o) { controller_->enqueue(keyOf(*o)); };
  // Status-only updates (admission's charges, this controller's own writes) need no look.
  qh.on_update = [this](const ObjectPtr& old, const ObjectPtr& cur) {
    bool status_known = cur->contains("status") && (*cur)["status"].is_object() &&
                        (*cur)["status"].contains("hard");
    if (hardOf(*old) != hardOf(*cur) || !status_known) controller_->enqueue(keyOf(*cur));
  };
  quota_informer_->addEventHandlers(std::move(qh));

  auto released = [this](const ObjectPtr& o) {
    enqueueNamespace((*o)["metadata"].value("namespace", ""));
  };
  client::EventHandlers ph;
  ph.on_delete = released;
  ph.on_update = [this](const ObjectPtr& old, const ObjectPtr& cur) {
    if (!apiserver::kinds::podFinished(*old) && apiserver::kinds::podFinished(*cur))
      enqueueNamespace((*cur)["metadata"].value("namespace", ""));
  };
  pod_informer_->addEventHandlers(std::move(ph));
  client::EventHandlers sh;
  sh.on_delete = released;
  service_informer_->addEventHandlers(std::move(sh));
}

ResourceQuotaController::~ResourceQuotaController() { stop(); }

void ResourceQuotaController::start() {
  controller_->start({quota_informer_, pod_informer_, service_informer_});
}

void ResourceQuotaController::stop() { controller_->stop(); }

void ResourceQuotaController::enqueueNamespace(const std::string& ns) {
  for (const ObjectPtr& q : quota_informer_->byIndex(client::kIndexNamespace, ns))
    controller_->enqueue(keyOf(*q));
}

ReconcileResult ResourceQuotaController::reconcile(const std::string& key) {
  ObjectPtr quota = quota_informer_->get(key);
  if (!quota || (*quota)["metadata"].contains("deletionTimestamp")) return ReconcileResult::ok();
  const std::string ns = (*quota)["metadata"].value("namespace", "");
  const std::string name = (*quota)["metadata"].value("name", "");
  const json hard = hardOf(*quota);

  // Sum the usage of every kind the quota tracks (one version of each group and resource).
  apiserver::kinds::QuotaUsage used;
  std::set<std::string> seen;
  for (const client::Resource& r : config_.resources) {
    if (!r.namespaced || !r.hasVerb("list") || r.resource.find('/') != std::string::npos) continue;
    if (!seen.insert(r.group + "/" + r.resource).second) continue;
    if (!apiserver::kinds::quotaTracksKind(hard, r.group, r.resource)) continue;
    std::vector<json> items;
    if (r.group.empty() && (r.resource == "pods" || r.resource == "services")) {
      client::Informer* inf = r.resource == "pods" ? pod_informer_ : service_informer_;
      for (const ObjectPtr& o : inf->byIndex(client::kIndexNamespace, ns)) items.push_back(*o);
    } else {
      auto list = client_->list(r, ns);
      if (!list.isOk())
        return ReconcileResult::fail(list.status().withContext("listing " + r.id() + " in " + ns));
      if (list->contains("items") && (*list)["items"].is_array())
        for (json& o : (*list)["items"]) items.push_back(std::move(o));
    }
    for (const json& o : items) {
      if (!apiserver::kinds::quotaSelects(*quota, r.group, r.resource, o)) continue;
      for (const auto& [res, v] : apiserver::kinds::quotaUsage(r.group, r.resource, o))
        used[res] += v;
    }
  }
  json status = {{"hard", hard}, {"used", json::object()}};
  for (auto it = hard.begin(); it != hard.end(); ++it) {
    bool binary = apiserver::isBinaryQuantity(apiserver::quantityText(it.value()));
    status["used"][it.key()] =
        apiserver::formatQuantity(used.count(it.key()) ? used[it.key()] : 0, binary);
  }
  if (quota->value("status", json()) == status) return ReconcileResult::after(config_.resync);
  json next = *quota;
  next["status"] = status;
  auto updated = client_->update(quotas_, ns, name, next, "status");
  if (!updated.isOk()) {
    if (updated.status().code() == Code::kNotFound) return ReconcileResult::ok();
    if (updated.status().code() == Code::kConflict) return ReconcileResult::backoff();
    return ReconcileResult::fail(updated.status().withContext("updating quota " + key));
  }
  BLOG(4, "resource quota recalculated").kv("quota", key).kv("used", status["used"].dump());
  return ReconcileResult::after(config_.resync);
}

}  // namespace berth::controllers
