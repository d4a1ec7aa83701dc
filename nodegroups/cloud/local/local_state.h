// The local cloud's files: what `berth cluster create`, the instance driver (inside
// `berth server`), each instance's supervisor and `berth cloud inject` share through the
// cluster's cloud state directory. Every write goes to a temporary file renamed into place, so
// a reader never sees half a file; each file has one writer (noted below), so no locking
// across processes is needed.
//
//   <cloud>/cloud.json                 LocalCloudConfig            (berth cluster create)
//   <cloud>/faults.json                capacity faults, zone outages (berth cloud inject)
//   <cloud>/instances/<id>/instance.json  InstanceRecord           (the instance driver)
//   <cloud>/instances/<id>/status.json    SupervisorStatus         (the supervisor)
//   <cloud>/instances/<id>/spot-notice.json  {"time": RFC 3339}    (berth cloud inject)
//   <cloud>/instances/<id>/user-data, supervisor.log, agent.log, agent/ (the agent's root dir)
//
// Thread-safety: pure functions over files.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time_util.h"
#include "nodegroups/cloud/cloud_driver.h"
#include "nodegroups/cloud/local/process.h"

namespace berth::cloud::local {

// The state root: $BERTH_STATE_DIR, else /var/lib/berth/clusters.
std::string stateRoot();
// <state root>/<cluster>: everything of one cluster.
std::string clusterDir(const std::string& cluster);
// <cluster dir>/cloud: the cloud state dir (`berth server --cloud-state-dir`).
std::string cloudDir(const std::string& cluster);

Status writeFileAtomic(const std::string& path, const std::string& data, int mode = 0644);
Result<std::string> readFile(const std::string& path);  // kNotFound when absent
Result<nlohmann::json> readJsonFile(const std::string& path);
Status writeJsonFile(const std::string& path, const nlohmann::json& j);

// How the cloud of one cluster runs its instances.
struct LocalCloudConfig {
  std::string cluster;
  std::string region = "local-1";
  std::vector<std::string> zones;
  std::string node_runtime = "runc";  // "runc" | "simulated": the agents' --runtime
  std::vector<std::string> agent_args;  // extra `berth agent` flags for every instance
  // The executable run as `<agent_binary> agent ...`; empty: the berth binary itself (tests
  // put a stand-in here).
  std::string agent_binary;
};
nlohmann::json toJson(const LocalCloudConfig& c);
LocalCloudConfig localCloudConfigFromJson(const nlohmann::json& j);
// Reads <cloud>/cloud.json; defaults when absent.
Result<LocalCloudConfig> loadLocalCloudConfig(const std::string& cloud_dir);

// What the driver knows of an instance.
struct InstanceRecord {
  Instance instance;  // state/state_reason: as last decided by the driver
  std::string client_token;
  std::string netns;
  ProcessRef supervisor;
  std::string node_runtime;
  std::vector<std::string> agent_args;
  std::string agent_binary;
  bool detached = false;  // its namespace is gone
  bool terminate_requested = false;
  TimePoint terminated_at{};  // when the driver saw it terminated (for retention)
};
nlohmann::json toJson(const InstanceRecord& r);
Result<InstanceRecord> instanceRecordFromJson(const nlohmann::json& j);

// What the supervisor reports.
struct SupervisorStatus {
  InstanceState state = InstanceState::kPending;
  std::string reason;   // EC2 StateReason code when terminated
  std::string message;  // e.g. "the agent exited with status 1"
  ProcessRef agent;
  TimePoint time{};
};
nlohmann::json toJson(const SupervisorStatus& s);
SupervisorStatus supervisorStatusFromJson(const nlohmann::json& j);

std::string instanceDir(const std::string& cloud_dir, const std::string& id);
// A fresh "i-" + 17 hex digits.
std::string newInstanceId();

// The spot interruption notice of an instance, if one was issued.
std::optional<TimePoint> readSpotNotice(const std::string& instance_dir);
Status writeSpotNotice(const std::string& instance_dir, TimePoint when);

// A capacity shortage injected for a pool (instance type, zone, capacity type).
struct CapacityFault {
  std::string instance_type;
  std::string zone;
  CapacityType capacity_type = CapacityType::kOnDemand;
  std::optional<TimePoint> until;  // none: until cleared
};
std::vector<CapacityFault> readCapacityFaults(const std::string& cloud_dir);
// Adds (or replaces the one for the same pool) and drops expired ones.
Status addCapacityFault(const std::string& cloud_dir, const CapacityFault& f, TimePoint now);
// Removes every capacity fault and zone outage.
Status clearFaults(const std::string& cloud_dir);
// True when a fault covers the pool at `now`.
bool capacityShort(const std::vector<CapacityFault>& faults, const std::string& instance_type,
                   const std::string& zone, CapacityType c, TimePoint now);

// A zone outage: no launch succeeds in the zone (InsufficientInstanceCapacity for every pool)
// until it is cleared or `until` passes. (Stopping the zone's running instances is the
// injector's part, see crashInstance.)
struct ZoneOutage {
  std::string zone;
  std::optional<TimePoint> until;  // none: until cleared
};
std::vector<ZoneOutage> readZoneOutages(const std::string& cloud_dir);
// Adds (or replaces the one for the same zone) and drops expired ones; capacity faults stay.
Status addZoneOutage(const std::string& cloud_dir, const ZoneOutage& o, TimePoint now);
bool zoneOut(const std::vector<ZoneOutage>& outages, const std::string& zone, TimePoint now);

}  // namespace berth::cloud::local
