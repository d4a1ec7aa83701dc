// Joining a cluster from user-data, as nodeadm and the kubelet's TLS bootstrap do it:
// parse the user-data (nodegroups/bootstrap/user_data.h), run its pre-bootstrap shell parts in
// order (output logged; a failing part fails the join), apply the NodeConfig's kubelet settings
// (labels, taints, maxPods, provider id) to the agent's options, and, when
// <root-dir>/<node>/kubelet.kubeconfig does not exist yet, get a client certificate: a P-256
// key, a CSR for system:node:<node> created with the bootstrap token, a watch until it is
// issued (or denied, failed, timed out), then the kubeconfig written with the NodeConfig's CA.
// Thread-safety: call from one thread, before the agent starts.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/status.h"
#include "kubelet-lite/agent_options.h"

namespace berth::kubelet {

// Labels a kubelet may set on its own Node (upstream's --node-labels rule): anything outside the
// kubernetes.io and k8s.io namespaces, and inside them only the allowed set. The error names
// the refused keys.
Status checkSelfLabels(const std::map<std::string, std::string>& labels);

// Does all of the above for `opts.user_data`, then points opts.kubeconfig at the node's
// kubeconfig and fills labels, taints, max_pods and provider_id from the NodeConfig.
Status joinFromUserData(AgentOptions& opts, std::chrono::seconds timeout);

}  // namespace berth::kubelet
