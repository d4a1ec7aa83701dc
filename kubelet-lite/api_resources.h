// The API resources the agent reads and writes, addressed once.
// Thread-safety: constants.
#pragma once

#include "client/client.h"

namespace berth::kubelet {

inline const client::Resource& nodesResource() {
  static const client::Resource r{"", "v1", "nodes", "Node", false, {}};
  return r;
}
inline const client::Resource& podsResource() {
  static const client::Resource r{"", "v1", "pods", "Pod", true, {}};
  return r;
}
inline const client::Resource& namespacesResource() {
  static const client::Resource r{"", "v1", "namespaces", "Namespace", false, {}};
  return r;
}
inline const client::Resource& leasesResource() {
  static const client::Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true, {}};
  return r;
}
inline const client::Resource& configMapsResource() {
  static const client::Resource r{"", "v1", "configmaps", "ConfigMap", true, {}};
  return r;
}
inline const client::Resource& secretsResource() {
  static const client::Resource r{"", "v1", "secrets", "Secret", true, {}};
  return r;
}

inline constexpr char kNodeLeaseNamespace[] = "kube-node-lease";

}  // namespace berth::kubelet
