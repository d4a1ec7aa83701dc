// Pod event handling shared by the workload controllers whose pods carry a controlling
// ownerReference to their workload (DaemonSet, StatefulSet, Job): a pod event maps to the key of
// the workload that controls it, records what it means for that workload's expectations (a pod
// added is a creation observed; a pod deleted or terminating is a deletion observed), and
// enqueues the workload.
// Thread-safety: the handlers run on the informer's thread; they only read the owner informer's
// cache and call the thread-safe Expectations and Controller::enqueue.
#pragma once

#include <string>

#include "client/informer.h"
#include "controllers/controller.h"
#include "controllers/replicaset_controller.h"

namespace berth::controllers {

// "ns/name" of the `kind` in API group `group` ("apps", "batch") that controls `pod`, when
// `owners` holds that very object (same uid); "" otherwise.
std::string controllerKeyFor(const client::json& pod, const std::string& kind,
                             const std::string& group, client::Informer* owners);

// Pod informer handlers for a workload controller (see the file comment). `owners`,
// `expectations` and `controller` must outlive the handlers.
client::EventHandlers ownedPodHandlers(const std::string& kind, const std::string& group,
                                       client::Informer* owners, Expectations* expectations,
                                       Controller* controller);

}  // namespace berth::controllers
