// Draining a node as `kubectl drain` does it, one step per call so a controller never waits:
// cordon + taint (karpenter.sh/disrupted:NoSchedule), then an eviction (policy/v1, so
// PodDisruptionBudgets are respected) for every pod on the node except DaemonSet pods, mirror
// pods and pods already terminating or finished.
// Thread-safety: stateless; safe from several workers on different nodes.
#pragma once

#include <string>
#include <vector>

#include "client/client.h"
#include "client/informer.h"

namespace berth::nodegroups {

// Index of pods by spec.nodeName (registered on the pods informer by the controllers).
inline constexpr char kIndexPodNode[] = "nodegroups.nodeName";
std::vector<std::string> podNodeIndex(const client::json& pod);

// Cordons the node and adds the disrupted taint (no-op when both are there).
Status cordonAndTaint(client::Client& client, const client::json& node);

struct DrainProgress {
  int remaining = 0;  // pods still to go (evicted pods count until they are gone)
  int blocked = 0;    // evictions refused (429: a PDB does not allow it now)
  std::string blocked_by;  // one pod refused, "ns/name"
};

// Evicts what is left on `node_name`; remaining == 0 means the node is drained.
Result<DrainProgress> evictPods(client::Client& client, client::Informer& pods,
                                const std::string& node_name);

}  // namespace berth::nodegroups
