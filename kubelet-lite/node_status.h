// Node registration data: what the host is (CPU, memory, kernel, OS, ids, address) and the
// core/v1 Node object and status an agent reports for it. Shared by the real agent and the
// simulated one (which fills NodeIdentity per simulated node).
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::kubelet {

using json = nlohmann::json;

// Facts read from the host (/proc, /etc/os-release, uname).
struct HostFacts {
  int64_t cpus = 1;
  int64_t memory_bytes = 0;
  int64_t ephemeral_storage_bytes = 0;
  std::string kernel_version;
  std::string os_image;
  std::string architecture;  // GOARCH spelling: amd64, arm64
  std::string machine_id;
  std::string boot_id;
  std::string hostname;
  std::string internal_ip;   // first non-loopback IPv4, else 127.0.0.1
};
HostFacts detectHost(const std::string& root_dir);

// Everything that goes into one Node object.
struct NodeIdentity {
  std::string name;
  std::string zone;
  std::string region;
  std::string instance_type;
  std::map<std::string, std::string> extra_labels;
  json taints = json::array();  // spec.taints at registration (--register-with-taints)
  std::string internal_ip;
  std::string pod_cidr;  // empty: leave spec.podCIDR unset
  int64_t cpu_millis = 1000;
  int64_t memory_bytes = 0;
  int64_t ephemeral_storage_bytes = 0;
  int64_t max_pods = 110;
  int kubelet_port = 10250;
  std::string runtime_version;  // "process://0.1.0"
  HostFacts host;               // kernel/os/ids for nodeInfo
  std::string provider_id;      // spec.providerID, empty: unset
  // Conditions beyond the kubelet's own (e.g. SpotInterruption), appended to every status
  // patch; must be callable from any thread. Empty: none.
  std::function<json(TimePoint now)> extra_conditions;
};

// The Node object to create (metadata.labels, spec.podCIDR(s), status).
json buildNode(const NodeIdentity& id, TimePoint now);
// status.conditions with every heartbeat at `now` (Ready=True, pressures False). `ready_since`
// is the Ready condition's lastTransitionTime.
json nodeConditions(TimePoint now, TimePoint ready_since);
// The merge patch a heartbeat sends to nodes/<name>/status.
json nodeStatusPatch(const NodeIdentity& id, TimePoint now, TimePoint ready_since);

// Quantities as flags take them: "4", "500m" (cpu, to millicores); "8Gi", "512Mi", "1G",
// "1000000" (bytes).
Result<int64_t> parseCpuMillis(const std::string& s);
Result<int64_t> parseBytes(const std::string& s);
std::string formatCpu(int64_t millis);  // "4" or "500m"
std::string formatBytesKi(int64_t bytes);  // "8048576Ki" as the kubelet reports memory

// Pod CIDRs: a per-node /24 inside 10.244.0.0/16 ("10.244.<index>.0/24"); index >= 256 spills
// into the next /16 (10.245.x.0/24, ...) so simulated fleets larger than 256 nodes fit.
std::string podCidrForIndex(int index);
// The lowest /24 index not in `used` (podCIDRs of other nodes).
int firstFreePodCidrIndex(const std::vector<std::string>& used);
// The /24 index of each of `ours` (node names one agent plays), given `nodes` (a NodeList's
// items): a node already registered keeps its podCIDR; every other one gets the lowest index
// no node in `nodes` nor an earlier name of `ours` holds, so two agents (or a single-node agent
// beside a fleet) never hand out the same pod range.
std::vector<int> assignPodCidrIndexes(const std::vector<std::string>& ours, const json& nodes);
// "10.244.3.0/24" -> 3, "10.245.1.0/24" -> 257; -1 for anything podCidrForIndex cannot give.
int podCidrIndex(const std::string& cidr);
// "10.244.3.0/24", host 5 -> "10.244.3.5"; empty when the CIDR is not an IPv4 /24.
std::string podIpInCidr(const std::string& cidr, int host);

}  // namespace berth::kubelet
