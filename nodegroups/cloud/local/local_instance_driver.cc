#include "nodegroups/cloud/local/local_instance_driver.h"

#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "nodegroups/catalogue/catalogue.h"
#include "nodegroups/cloud/local/process.h"

namespace berth::cloud::local {

namespace fs = std::filesystem;

LocalInstanceDriver::LocalInstanceDriver(Options opts, InstanceNetwork* network)
    : opts_(std::move(opts)), network_(network) {
  if (opts_.berth_binary.empty()) opts_.berth_binary = selfExecutable();
}

Status LocalInstanceDriver::save(const InstanceRecord& rec) const {
  return writeJsonFile(dirOf(rec.instance.id) + "/instance.json", toJson(rec));
}

namespace {

std::vector<InstanceRecord> loadAll(const std::string& cloud_dir) {
  std::vector<InstanceRecord> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cloud_dir + "/instances", ec)) {
    auto j = readJsonFile(entry.path().string() + "/instance.json");
    if (!j.isOk()) continue;  // being created, or not ours
    auto rec = instanceRecordFromJson(*j);
    if (rec.isOk()) out.push_back(std::move(rec).value());
  }
  std::sort(out.begin(), out.end(), [](const InstanceRecord& a, const InstanceRecord& b) {
    return a.instance.launch_time < b.instance.launch_time;
  });
  return out;
}

// The instance as it is now (from the record, the supervisor's status and the spot notice).
Instance view(const std::string& cloud_dir, const InstanceRecord& rec) {
  Instance i = rec.instance;
  std::string dir = instanceDir(cloud_dir, i.id);
  i.interruption_time = readSpotNotice(dir);
  if (i.state == InstanceState::kTerminated) return i;
  SupervisorStatus st;
  if (auto j = readJsonFile(dir + "/status.json"); j.isOk()) st = supervisorStatusFromJson(*j);
  if (st.state == InstanceState::kTerminated) {
    i.state = InstanceState::kTerminated;
    i.state_reason = st.reason;
  } else if (!processAlive(rec.supervisor)) {
    // The "VM" is gone without a word: the supervisor was killed or the machine restarted.
    i.state = InstanceState::kTerminated;
    i.state_reason = rec.terminate_requested ? "Client.UserInitiatedShutdown" : "Server.InternalError";
  } else if (rec.terminate_requested) {
    i.state = InstanceState::kShuttingDown;
  } else {
    i.state = st.state == InstanceState::kRunning ? InstanceState::kRunning : InstanceState::kPending;
  }
  return i;
}

}  // namespace

std::vector<Instance> peekInstances(const std::string& cloud_dir) {
  std::vector<Instance> out;
  for (const InstanceRecord& rec : loadAll(cloud_dir)) out.push_back(view(cloud_dir, rec));
  return out;
}

Status crashInstance(const std::string& cloud_dir, const std::string& id) {
  std::string dir = instanceDir(cloud_dir, id);
  auto rec_json = readJsonFile(dir + "/instance.json");
  if (!rec_json.isOk()) return notFound("no instance " + id);
  BERTH_ASSIGN_OR_RETURN(InstanceRecord rec, instanceRecordFromJson(*rec_json));
  if (view(cloud_dir, rec).state == InstanceState::kTerminated)
    return Status(Code::kConflict, id + " is already terminated");
  ProcessRef victim;
  if (auto j = readJsonFile(dir + "/status.json"); j.isOk()) victim = supervisorStatusFromJson(*j).agent;
  // Not booted yet: the whole "VM" goes.
  if (!processAlive(victim)) victim = rec.supervisor;
  if (!processAlive(victim) || ::kill(victim.pid, SIGKILL) != 0)
    return Status(Code::kConflict, "cannot crash " + id + ": its processes are gone");
  return Status::ok();
}

void LocalInstanceDriver::settle(InstanceRecord* rec, const Instance& v) {
  if (v.state != InstanceState::kTerminated) return;
  bool changed = false;
  if (rec->instance.state != InstanceState::kTerminated) {
    rec->instance.state = InstanceState::kTerminated;
    rec->instance.state_reason = v.state_reason;
    rec->terminated_at = opts_.clock->now();
    changed = true;
    BLOG(0, "instance terminated").kv("instance", v.id).kv("reason", v.state_reason);
  }
  if (!rec->detached && network_) {
    // A supervisor that ignored SIGTERM long enough must not keep the namespace busy.
    stopProcess(rec->supervisor, 0);
    Status st = network_->detachInstance(rec->instance.id);
    if (st.isOk()) {
      rec->detached = true;
      changed = true;
    } else {
      BLOG(0, "cannot remove instance namespace").kv("instance", v.id).kv("err", st.toString());
    }
  }
  if (changed) {
    Status st = save(*rec);
    if (!st.isOk()) BLOG(0, "cannot save instance").kv("instance", v.id).kv("err", st.toString());
  }
}

Result<Instance> LocalInstanceDriver::runInstance(const RunInstanceRequest& req) {
  if (req.client_token.empty()) return invalid("runInstance: a client token is required");
  auto cl = req.tags.find(kTagCluster);
  if (cl == req.tags.end() || cl->second != opts_.config.cluster) {
    return invalid(std::string("runInstance: tag ") + kTagCluster + " must be \"" +
                   opts_.config.cluster + "\"");
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (InstanceRecord& rec : loadAll(opts_.cloud_dir)) {
    if (rec.client_token != req.client_token) continue;
    Instance v = view(opts_.cloud_dir, rec);
    settle(&rec, v);
    return v;
  }
  return launch(req);
}

Result<Instance> LocalInstanceDriver::launch(const RunInstanceRequest& req) {
  if (auto type = nodegroups::lookupInstanceType(req.instance_type); !type.isOk()) {
    return invalid("InvalidParameterValue: " + type.status().message());
  }
  const auto& zones = opts_.config.zones;
  if (!zones.empty() && std::find(zones.begin(), zones.end(), req.zone) == zones.end()) {
    return invalid("InvalidParameterValue: unknown zone \"" + req.zone + "\" (this cloud has " +
                   join(zones, ", ") + ")");
  }
  if (req.subnet_id.empty()) return invalid("runInstance: a subnet is required");
  if (capacityShort(readCapacityFaults(opts_.cloud_dir), req.instance_type, req.zone,
                    req.capacity_type, opts_.clock->now()) ||
      zoneOut(readZoneOutages(opts_.cloud_dir), req.zone, opts_.clock->now())) {
    return insufficientCapacity(req.instance_type, req.zone, req.capacity_type);
  }
  InstanceRecord rec;
  Instance& i = rec.instance;
  i.id = newInstanceId();
  i.instance_type = req.instance_type;
  i.zone = req.zone;
  i.region = opts_.config.region;
  i.subnet_id = req.subnet_id;
  i.capacity_type = req.capacity_type;
  i.tags = req.tags;
  i.launch_time = opts_.clock->now();
  i.state = InstanceState::kPending;
  rec.client_token = req.client_token;
  rec.node_runtime = opts_.config.node_runtime;
  rec.agent_args = opts_.config.agent_args;
  rec.agent_binary = opts_.config.agent_binary;
  std::string dir = dirOf(i.id);
  std::error_code ec;
  fs::create_directories(dir + "/agent", ec);
  if (ec) return internalError("create " + dir + ": " + ec.message());
  auto cleanup = [&](const Status& why) {
    if (network_) (void)network_->detachInstance(i.id);
    fs::remove_all(dir, ec);
    return why;
  };
  BERTH_RETURN_IF_ERROR(writeFileAtomic(dir + "/user-data", req.user_data, 0600));
  if (network_) {
    auto ip = network_->attachInstance(i.id, req.subnet_id, &rec.netns);
    if (!ip.isOk()) return cleanup(ip.status().withContext("attaching " + i.id));
    i.private_ip = *ip;
  }
  if (Status st = save(rec); !st.isOk()) return cleanup(st);
  auto sup = spawnDetached({opts_.berth_binary, "cloud", "instance-run", "--state", dir},
                           dir + "/supervisor.log");
  if (!sup.isOk()) return cleanup(sup.status());
  rec.supervisor = *sup;
  if (Status st = save(rec); !st.isOk()) {
    stopProcess(rec.supervisor, 2000);
    return cleanup(st);
  }
  BLOG(2, "instance launched").kv("instance", i.id).kv("type", i.instance_type).kv("zone", i.zone)
      .kv("ip", i.private_ip).kv("capacity", toString(i.capacity_type));
  return view(opts_.cloud_dir, rec);
}

Status LocalInstanceDriver::terminateInstance(const std::string& id) {
  InstanceRecord rec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto j = readJsonFile(dirOf(id) + "/instance.json");
    if (!j.isOk()) return notFound("InvalidInstanceID.NotFound: " + id);
    BERTH_ASSIGN_OR_RETURN(rec, instanceRecordFromJson(*j));
    if (rec.instance.state == InstanceState::kTerminated && rec.detached) return Status::ok();
    if (!rec.terminate_requested) {
      rec.terminate_requested = true;
      BERTH_RETURN_IF_ERROR(save(rec));
    }
  }
  // The supervisor gives the agent its grace period; wait for it outside the lock.
  stopProcess(rec.supervisor, 15000);
  std::lock_guard<std::mutex> lock(mu_);
  auto j = readJsonFile(dirOf(id) + "/instance.json");
  if (!j.isOk()) return Status::ok();
  BERTH_ASSIGN_OR_RETURN(rec, instanceRecordFromJson(*j));
  settle(&rec, view(opts_.cloud_dir, rec));
  return Status::ok();
}

Result<std::vector<Instance>> LocalInstanceDriver::describeInstances(
    const std::map<std::string, std::string>& tags) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Instance> out;
  TimePoint now = opts_.clock->now();
  for (InstanceRecord& rec : loadAll(opts_.cloud_dir)) {
    Instance v = view(opts_.cloud_dir, rec);
    settle(&rec, v);
    if (rec.instance.state == InstanceState::kTerminated && rec.detached &&
        rec.terminated_at != TimePoint{} && now - rec.terminated_at > opts_.terminated_retention) {
      std::error_code ec;
      fs::remove_all(dirOf(rec.instance.id), ec);
      continue;
    }
    bool match = std::all_of(tags.begin(), tags.end(), [&](const auto& kv) {
      auto it = v.tags.find(kv.first);
      return it != v.tags.end() && it->second == kv.second;
    });
    if (match) out.push_back(std::move(v));
  }
  return out;
}

}  // namespace berth::cloud::local
