#include "controllers/owned_pods.h"

#include "controllers/workload_util.h"

namespace berth::controllers {

using client::ObjectPtr;

std::string controllerKeyFor(const client::json& pod, const std::string& kind,
                             const std::string& group, client::Informer* owners) {
  const json* ref = controllerRefOfKind(pod, kind);
  if (!ref || ref->value("apiVersion", "").rfind(group + "/", 0) != 0) return "";
  std::string key = namespaceOf(pod) + "/" + ref->value("name", "");
  ObjectPtr owner = owners->get(key);
  return owner && uidOf(*owner) == ref->value("uid", "") ? key : "";
}

client::EventHandlers ownedPodHandlers(const std::string& kind, const std::string& group,
                                       client::Informer* owners, Expectations* expectations,
                                       Controller* controller) {
  auto on_event = [=](const json& pod, bool added, bool deleted) {
    std::string key = controllerKeyFor(pod, kind, group, owners);
    if (key.empty()) return;
    if (added) expectations->creationObserved(key);
    if (deleted || isDeleting(pod)) expectations->deletionObserved(key, client::objectKey(pod));
    controller->enqueue(key);
  };
  client::EventHandlers h;
  h.on_add = [on_event](const ObjectPtr& o) { on_event(*o, true, false); };
  h.on_update = [on_event](const ObjectPtr& old_pod, const ObjectPtr& o) {
    if (*old_pod != *o) on_event(*o, false, false);
  };
  h.on_delete = [on_event](const ObjectPtr& o) { on_event(*o, false, true); };
  return h;
}

}  // namespace berth::controllers
