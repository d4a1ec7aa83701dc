#include "nodegroups/cloud/local/local_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace berth::cloud::local {

using json = nlohmann::json;

std::string stateRoot() {
  const char* env = std::getenv("BERTH_STATE_DIR");
  if (env && *env) return env;
  return "/var/lib/berth/clusters";
}

std::string clusterDir(const std::string& cluster) { return stateRoot() + "/" + cluster; }
std::string cloudDir(const std::string& cluster) { return clusterDir(cluster) + "/cloud"; }

Status writeFileAtomic(const std::string& path, const std::string& data, int mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return internalError("write " + path + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return internalError("write " + path + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return internalError("rename " + path + ": " + std::strerror(e));
  }
  return Status::ok();
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound(path + ": no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<json> readJsonFile(const std::string& path) {
  BERTH_ASSIGN_OR_RETURN(std::string text, readFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return internalError(path + ": not valid JSON");
  return j;
}

Status writeJsonFile(const std::string& path, const json& j) {
  return writeFileAtomic(path, j.dump(2) + "\n");
}

json toJson(const LocalCloudConfig& c) {
  return {{"cluster", c.cluster},
          {"region", c.region},
          {"zones", c.zones},
          {"nodeRuntime", c.node_runtime},
          {"agentArgs", c.agent_args},
          {"agentBinary", c.agent_binary}};
}

LocalCloudConfig localCloudConfigFromJson(const json& j) {
  LocalCloudConfig c;
  c.cluster = j.value("cluster", "");
  c.region = j.value("region", "local-1");
  c.zones = j.value("zones", std::vector<std::string>{});
  c.node_runtime = j.value("nodeRuntime", "runc");
  c.agent_args = j.value("agentArgs", std::vector<std::string>{});
  c.agent_binary = j.value("agentBinary", "");
  return c;
}

Result<LocalCloudConfig> loadLocalCloudConfig(const std::string& cloud_dir) {
  auto j = readJsonFile(cloud_dir + "/cloud.json");
  if (!j.isOk()) {
    if (j.status().code() == Code::kNotFound) return LocalCloudConfig{};
    return j.status();
  }
  return localCloudConfigFromJson(*j);
}

namespace {

json refJson(const ProcessRef& r) { return {{"pid", r.pid}, {"startTime", r.start_time}}; }
ProcessRef refFromJson(const json& j) {
  if (!j.is_object()) return {};
  return {j.value("pid", 0), j.value("startTime", 0ULL)};
}

std::string timeString(TimePoint t) { return t == TimePoint{} ? "" : formatRfc3339Micro(t); }
TimePoint timeFrom(const json& j, const char* key) {
  TimePoint t{};
  std::string s = j.value(key, "");
  if (!s.empty()) parseRfc3339(s, &t);
  return t;
}

InstanceState stateFromString(const std::string& s) {
  if (s == "running") return InstanceState::kRunning;
  if (s == "shutting-down") return InstanceState::kShuttingDown;
  if (s == "terminated") return InstanceState::kTerminated;
  return InstanceState::kPending;
}

}  // namespace

json toJson(const InstanceRecord& r) {
  const Instance& i = r.instance;
  return {{"id", i.id},
          {"clientToken", r.client_token},
          {"instanceType", i.instance_type},
          {"zone", i.zone},
          {"region", i.region},
          {"subnetId", i.subnet_id},
          {"privateIp", i.private_ip},
          {"capacityType", toString(i.capacity_type)},
          {"state", toString(i.state)},
          {"stateReason", i.state_reason},
          {"launchTime", timeString(i.launch_time)},
          {"tags", i.tags},
          {"netns", r.netns},
          {"supervisor", refJson(r.supervisor)},
          {"nodeRuntime", r.node_runtime},
          {"agentArgs", r.agent_args},
          {"agentBinary", r.agent_binary},
          {"detached", r.detached},
          {"terminateRequested", r.terminate_requested},
          {"terminatedAt", timeString(r.terminated_at)}};
}

Result<InstanceRecord> instanceRecordFromJson(const json& j) {
  if (!j.is_object() || !j.contains("id")) return internalError("instance record without an id");
  InstanceRecord r;
  Instance& i = r.instance;
  i.id = j.value("id", "");
  r.client_token = j.value("clientToken", "");
  i.instance_type = j.value("instanceType", "");
  i.zone = j.value("zone", "");
  i.region = j.value("region", "");
  i.subnet_id = j.value("subnetId", "");
  i.private_ip = j.value("privateIp", "");
  auto ct = parseCapacityType(j.value("capacityType", "on-demand"));
  i.capacity_type = ct.isOk() ? *ct : CapacityType::kOnDemand;
  i.state = stateFromString(j.value("state", "pending"));
  i.state_reason = j.value("stateReason", "");
  i.launch_time = timeFrom(j, "launchTime");
  i.tags = j.value("tags", std::map<std::string, std::string>{});
  r.netns = j.value("netns", "");
  r.supervisor = refFromJson(j.value("supervisor", json::object()));
  r.node_runtime = j.value("nodeRuntime", "runc");
  r.agent_args = j.value("agentArgs", std::vector<std::string>{});
  r.agent_binary = j.value("agentBinary", "");
  r.detached = j.value("detached", false);
  r.terminate_requested = j.value("terminateRequested", false);
  r.terminated_at = timeFrom(j, "terminatedAt");
  return r;
}

json toJson(const SupervisorStatus& s) {
  return {{"state", toString(s.state)},
          {"reason", s.reason},
          {"message", s.message},
          {"agent", refJson(s.agent)},
          {"time", timeString(s.time)}};
}

SupervisorStatus supervisorStatusFromJson(const json& j) {
  SupervisorStatus s;
  s.state = stateFromString(j.value("state", "pending"));
  s.reason = j.value("reason", "");
  s.message = j.value("message", "");
  s.agent = refFromJson(j.value("agent", json::object()));
  s.time = timeFrom(j, "time");
  return s;
}

std::string instanceDir(const std::string& cloud_dir, const std::string& id) {
  return cloud_dir + "/instances/" + id;
}

std::string newInstanceId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string id = "i-";
  for (int i = 0; i < 17; ++i) id += kHex[rng() % 16];
  return id;
}

std::optional<TimePoint> readSpotNotice(const std::string& dir) {
  auto j = readJsonFile(dir + "/spot-notice.json");
  if (!j.isOk()) return std::nullopt;
  TimePoint t = timeFrom(*j, "time");
  if (t == TimePoint{}) return std::nullopt;
  return t;
}

Status writeSpotNotice(const std::string& dir, TimePoint when) {
  return writeJsonFile(dir + "/spot-notice.json", {{"time", formatRfc3339(when)}});
}

std::vector<CapacityFault> readCapacityFaults(const std::string& cloud_dir) {
  std::vector<CapacityFault> out;
  auto j = readJsonFile(cloud_dir + "/faults.json");
  if (!j.isOk() || !j->contains("capacity") || !(*j)["capacity"].is_array()) return out;
  for (const json& f : (*j)["capacity"]) {
    CapacityFault c;
    c.instance_type = f.value("instanceType", "");
    c.zone = f.value("zone", "");
    auto ct = parseCapacityType(f.value("capacityType", "on-demand"));
    c.capacity_type = ct.isOk() ? *ct : CapacityType::kOnDemand;
    TimePoint until = timeFrom(f, "until");
    if (until != TimePoint{}) c.until = until;
    out.push_back(c);
  }
  return out;
}

namespace {

json faultsFile(const std::string& cloud_dir) {
  auto j = readJsonFile(cloud_dir + "/faults.json");
  return j.isOk() && j->is_object() ? *j : json::object();
}

json untilJson(const std::optional<TimePoint>& until) { return until ? formatRfc3339(*until) : ""; }

}  // namespace

Status addCapacityFault(const std::string& cloud_dir, const CapacityFault& f, TimePoint now) {
  std::vector<CapacityFault> faults = readCapacityFaults(cloud_dir);
  json arr = json::array();
  for (const CapacityFault& c : faults) {
    bool same = c.instance_type == f.instance_type && c.zone == f.zone &&
                c.capacity_type == f.capacity_type;
    bool expired = c.until && *c.until <= now;
    if (same || expired) continue;
    arr.push_back({{"instanceType", c.instance_type},
                   {"zone", c.zone},
                   {"capacityType", toString(c.capacity_type)},
                   {"until", untilJson(c.until)}});
  }
  arr.push_back({{"instanceType", f.instance_type},
                 {"zone", f.zone},
                 {"capacityType", toString(f.capacity_type)},
                 {"until", untilJson(f.until)}});
  json file = faultsFile(cloud_dir);
  file["capacity"] = arr;
  return writeJsonFile(cloud_dir + "/faults.json", file);
}

Status clearFaults(const std::string& cloud_dir) {
  return writeJsonFile(cloud_dir + "/faults.json", {{"capacity", json::array()}, {"zones", json::array()}});
}

std::vector<ZoneOutage> readZoneOutages(const std::string& cloud_dir) {
  std::vector<ZoneOutage> out;
  json file = faultsFile(cloud_dir);
  if (!file.contains("zones") || !file["zones"].is_array()) return out;
  for (const json& z : file["zones"]) {
    ZoneOutage o;
    o.zone = z.value("zone", "");
    TimePoint until = timeFrom(z, "until");
    if (until != TimePoint{}) o.until = until;
    out.push_back(o);
  }
  return out;
}

Status addZoneOutage(const std::string& cloud_dir, const ZoneOutage& o, TimePoint now) {
  json arr = json::array();
  for (const ZoneOutage& z : readZoneOutages(cloud_dir)) {
    if (z.zone == o.zone || (z.until && *z.until <= now)) continue;
    arr.push_back({{"zone", z.zone}, {"until", untilJson(z.until)}});
  }
  arr.push_back({{"zone", o.zone}, {"until", untilJson(o.until)}});
  json file = faultsFile(cloud_dir);
  file["zones"] = arr;
  return writeJsonFile(cloud_dir + "/faults.json", file);
}

bool zoneOut(const std::vector<ZoneOutage>& outages, const std::string& zone, TimePoint now) {
  for (const ZoneOutage& o : outages)
    if (o.zone == zone && (!o.until || now < *o.until)) return true;
  return false;
}

bool capacityShort(const std::vector<CapacityFault>& faults, const std::string& instance_type,
                   const std::string& zone, CapacityType c, TimePoint now) {
  for (const CapacityFault& f : faults) {
    if (f.instance_type == instance_type && f.zone == zone && f.capacity_type == c &&
        (!f.until || now < *f.until)) {
      return true;
    }
  }
  return false;
}

}  // namespace berth::cloud::local
