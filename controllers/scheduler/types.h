// The scheduler's parsed view of nodes and pods: what filters and scores read, extracted once
// from the JSON objects the informers hold. Quantities are integers (milli-cores, bytes) as
// upstream's scheduler framework keeps them.
// Thread-safety: plain values; the cache owns them behind its mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::controllers::scheduler {

using json = nlohmann::json;

// Label keys the scheduler knows by name.
inline constexpr char kLabelHostname[] = "kubernetes.io/hostname";
inline constexpr char kLabelZone[] = "topology.kubernetes.io/zone";
inline constexpr char kTaintUnschedulable[] = "node.kubernetes.io/unschedulable";
inline constexpr char kTaintNotReady[] = "node.kubernetes.io/not-ready";
inline constexpr char kDefaultSchedulerName[] = "default-scheduler";

struct Resources {
  int64_t milli_cpu = 0;
  int64_t memory = 0;
  int64_t ephemeral_storage = 0;
  int64_t pods = 0;
  std::map<std::string, int64_t> scalar;  // extended resources, e.g. nvidia.com/gpu

  void add(const Resources& o);
  void sub(const Resources& o);
  bool operator==(const Resources& o) const = default;
};

// A resource list ({"cpu":"500m","memory":"1Gi"}) in integer units; malformed entries count 0.
Resources parseResourceList(const json& list);

struct Taint {
  std::string key, value, effect;
  bool operator==(const Taint& o) const = default;
};

struct Toleration {
  std::string key, op, value, effect;  // op "Equal" or "Exists"
  bool tolerates(const Taint& t) const;
};

struct HostPort {
  std::string ip;  // "0.0.0.0" when unset
  std::string protocol;
  int port = 0;
  bool conflicts(const HostPort& o) const;
};

// What the scheduler needs to know about a node.
struct NodeInfo {
  std::string name;
  std::shared_ptr<const json> node;  // labels are read from node->metadata.labels
  Resources allocatable;
  std::vector<Taint> taints;
  bool unschedulable = false;
  bool ready = false;

  // Running totals over the pods assigned (or assumed) here.
  Resources requested;
  Resources non_zero_requested;  // with upstream's defaults for unset cpu/memory (scoring)
  std::vector<HostPort> used_ports;
  int num_pods = 0;

  const json* labels_json = nullptr;  // into *node, set by parseNode (lookups are hot)
  // The two topology labels every default spread constraint reads, per node per pod scored:
  // looked up once by parseNode (into *node) instead of in the label map each time.
  const std::string* hostname_label = nullptr;
  const std::string* zone_label = nullptr;

  const json& labels() const;
  // Label value, or nullptr when the node lacks the label.
  const std::string* label(const std::string& key) const;
  // True when a change from `o` could make some pod fit that did not before (or vice versa):
  // heartbeat-only updates return false.
  bool schedulingPropertiesEqual(const NodeInfo& o) const;
};

NodeInfo parseNode(std::shared_ptr<const json> node);

// What the scheduler needs to know about a pod (pending or assigned).
struct PodInfo {
  std::string key;  // ns/name
  std::string ns;
  std::string uid;
  std::string node_name;
  std::string owner_uid;  // controller ownerReference
  std::shared_ptr<const json> pod;
  Resources requests;           // pods = 1
  Resources non_zero_requests;  // cpu/memory defaulted (100m, 200Mi) when unset, for scoring
  std::vector<HostPort> host_ports;
  std::vector<Toleration> tolerations;
  bool has_required_anti_affinity = false;

  const json& labels() const;
  const json& spec() const;
};

PodInfo parsePod(std::shared_ptr<const json> pod);

// Upstream's effective pod requests: max(sum of app containers (+ restartable init
// containers), each init container) plus overhead. A missing request falls back to the limit,
// as API defaulting does.
Resources podRequests(const json& spec, bool non_zero);

bool podTerminated(const json& pod);
// A pod this scheduler should place: no nodeName, our schedulerName, not being deleted.
bool podNeedsScheduling(const json& pod);

}  // namespace berth::controllers::scheduler
