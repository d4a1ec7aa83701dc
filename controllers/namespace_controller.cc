#include "controllers/namespace_controller.h"

#include "common/log.h"

namespace berth::controllers {

using client::json;
using client::ObjectPtr;

namespace {

const char kFinalizer[] = "kubernetes";

bool specHasFinalizer(const json& ns) {
  if (!ns.contains("spec") || !ns["spec"].is_object()) return false;
  const json& spec = ns["spec"];
  if (!spec.contains("finalizers") || !spec["finalizers"].is_array()) return false;
  for (const auto& f : spec["finalizers"])
    if (f == kFinalizer) return true;
  return false;
}

bool deleting(const json& obj) {
  return obj.contains("metadata") && obj["metadata"].contains("deletionTimestamp");
}

}  // namespace

NamespaceController::NamespaceController(client::Client* client, client::InformerFactory* informers,
                                         Config config)
    : client_(client), config_(std::move(config)) {
  namespaces_ = {"", "v1", "namespaces", "Namespace", false, {"get", "list", "watch", "delete"}};
  for (const auto& r : config_.resources) {
    if (r.namespaced && r.hasVerb("list") && (r.hasVerb("delete") || r.hasVerb("deletecollection")))
      content_.push_back(r);
  }
  controller_ = Controller::forConfig("namespace", config_, [this](const std::string& k) { return reconcile(k); });
  informer_ = informers->informerFor(namespaces_);
  client::EventHandlers h;
  auto on = [this](const ObjectPtr& o) {
    if (deleting(*o)) controller_->enqueue((*o)["metadata"].value("name", ""));
  };
  h.on_add = on;
  h.on_update = [on](const ObjectPtr&, const ObjectPtr& o) { on(o); };
  informer_->addEventHandlers(std::move(h));
}

NamespaceController::~NamespaceController() { stop(); }

void NamespaceController::start() { controller_->start({informer_}); }

void NamespaceController::stop() { controller_->stop(); }

ReconcileResult NamespaceController::reconcile(const std::string& name) {
  ObjectPtr ns = informer_->get(name);
  if (!ns || !deleting(*ns) || !specHasFinalizer(*ns)) return ReconcileResult::ok();
  const json background = {{"propagationPolicy", "Background"}};
  size_t remaining = 0;
  for (const auto& r : content_) {
    bool collection = r.hasVerb("deletecollection");
    if (collection) {
      auto del = client_->removeCollection(r, name, background);
      if (!del.isOk() && del.status().code() != Code::kNotFound &&
          del.status().code() != Code::kMethodNotAllowed)
        return ReconcileResult::fail(del.status().withContext("deletecollection " + r.id()));
    }
    auto list = client_->list(r, name);
    if (!list.isOk()) {
      if (list.status().code() == Code::kNotFound) continue;
      return ReconcileResult::fail(list.status().withContext("list " + r.id()));
    }
    if (!list->contains("items") || !(*list)["items"].is_array()) continue;
    for (const auto& item : (*list)["items"]) {
      ++remaining;
      if (collection || deleting(item) || !r.hasVerb("delete")) continue;
      auto del = client_->remove(r, name, item["metadata"].value("name", ""), background);
      if (!del.isOk() && del.status().code() != Code::kNotFound)
        return ReconcileResult::fail(del.status().withContext("delete " + r.id()));
    }
  }
  if (remaining > 0) {
    BLOG(4, "namespace content remains").kv("namespace", name).kv("remaining", remaining);
    return ReconcileResult::backoff();
  }
  auto live = client_->get(namespaces_, "", name);
  if (!live.isOk()) {
    if (live.status().code() == Code::kNotFound) return ReconcileResult::ok();
    return ReconcileResult::fail(live.status());
  }
  json obj = std::move(live).value();
  if (!specHasFinalizer(obj)) return ReconcileResult::ok();
  json kept = json::array();
  for (const auto& f : obj["spec"]["finalizers"])
    if (f != kFinalizer) kept.push_back(f);
  obj["spec"]["finalizers"] = kept;
  auto fin = client_->update(namespaces_, "", name, obj, "finalize");
  if (!fin.isOk() && fin.status().code() == Code::kNotFound) {
    // Some servers route namespaces/NAME/finalize as a resource named "finalize" in namespace
    // NAME and answer 404; spec.finalizers can then be emptied through a plain update.
    fin = client_->update(namespaces_, "", name, obj);
  }
  if (!fin.isOk() && fin.status().code() != Code::kNotFound) return ReconcileResult::fail(fin.status());
  BLOG(2, "namespace finalized").kv("namespace", name);
  return ReconcileResult::ok();
}

}  // namespace berth::controllers
