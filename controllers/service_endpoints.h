// What the Endpoints and EndpointSlice controllers agree on: which pods a Service selects,
// which of them belong in its endpoints, their readiness, and the Service ports each pod
// resolves (targetPort as a number, or a container port's name). Pods without an IPv4
// address and pods in a terminal phase are left out; terminating pods only when asked to.
// Thread-safety: pure functions over immutable cached objects.
#pragma once

#include <string>
#include <vector>

#include "client/informer.h"
#include "controllers/workload_util.h"

namespace berth::controllers {

struct PodEndpoint {
  client::ObjectPtr pod;
  std::string ip;
  bool pod_ready = false;     // the pod's Ready condition is True
  bool terminating = false;   // deletionTimestamp set
  json ports = json::array();  // [{name, port, protocol[, appProtocol]}] resolved for this pod
};

// The Service has a non-empty spec.selector (Services without one are managed by hand).
bool serviceHasSelector(const json& service);
// The Service's selector selects `pod` (same namespace is the caller's business).
bool serviceSelects(const json& service, const json& pod);
// The pods among `pods` that belong in the Service's endpoints, sorted by IP then name.
std::vector<PodEndpoint> podEndpointsFor(const json& service,
                                         const std::vector<client::ObjectPtr>& pods,
                                         bool include_terminating);
// Keys ("ns/name") of the Services in `services` (of the pod's namespace) selecting `pod`.
std::vector<std::string> servicesSelecting(const client::Informer& services, const json& pod);

}  // namespace berth::controllers
