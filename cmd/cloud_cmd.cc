#include "cmd/cloud_cmd.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "common/strings.h"
#include "common/time_util.h"
#include "nodegroups/cloud/local/local_instance_driver.h"
#include "nodegroups/cloud/local/local_state.h"
#include "nodegroups/cloud/local/supervisor.h"
#include "nodegroups/catalogue/catalogue.h"

namespace berth::cmd {

namespace {

namespace local = cloud::local;

constexpr char kCloudUsage[] = R"(berth cloud: the local cloud's instances and fault injection

Usage:
  berth cloud instances --cluster NAME
      list the cluster's instances (id, type, zone, capacity, state, reason, IP)
  berth cloud inject spot-interruption --cluster NAME INSTANCE_ID [--in DURATION]
      issue a spot interruption notice: the instance's metadata endpoint serves
      spot/instance-action with time = now + DURATION (default 2m); at that time the
      instance is terminated (Server.SpotInstanceTermination)
  berth cloud inject insufficient-capacity --cluster NAME TYPE ZONE spot|on-demand [--for DURATION]
      launches in that pool fail with InsufficientInstanceCapacity (until cleared, or DURATION)
  berth cloud inject instance-crash --cluster NAME INSTANCE_ID
      kill the instance's agent: the instance fails (terminated, Server.InternalError)
  berth cloud inject zone-outage --cluster NAME ZONE [--for DURATION]
      the zone goes down: every instance in it crashes (as instance-crash) and launches in it
      fail with InsufficientInstanceCapacity (until cleared, or DURATION)
  berth cloud inject clear --cluster NAME
      remove every capacity fault and zone outage

The cluster's state is under $BERTH_STATE_DIR/NAME (default /var/lib/berth/clusters/NAME).
)";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "berth cloud: %s\n\n%s", msg.c_str(), kCloudUsage);
  return 2;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "berth cloud: %s\n", msg.c_str());
  return 1;
}

struct Parsed {
  std::string cluster;
  std::string in;   // --in
  std::string for_; // --for
  std::vector<std::string> positional;
};

bool parseArgs(const std::vector<std::string>& args, size_t from, Parsed* p, std::string* err) {
  for (size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& name, std::string* out) {
      if (a == name) {
        if (i + 1 >= args.size()) {
          *err = name + " needs a value";
          return false;
        }
        *out = args[++i];
        return true;
      }
      if (startsWith(a, name + "=")) {
        *out = a.substr(name.size() + 1);
        return true;
      }
      return false;
    };
    if (value("--cluster", &p->cluster) || value("--in", &p->in) || value("--for", &p->for_)) {
      if (!err->empty()) return false;
      continue;
    }
    if (!err->empty()) return false;
    if (startsWith(a, "-")) {
      *err = "unknown flag \"" + a + "\"";
      return false;
    }
    p->positional.push_back(a);
  }
  if (p->cluster.empty()) {
    *err = "--cluster is required";
    return false;
  }
  return true;
}

// The cloud state dir of an existing cluster.
bool cloudDirOf(const std::string& cluster, std::string* dir, std::string* err) {
  *dir = local::cloudDir(cluster);
  struct stat st;
  if (::stat(dir->c_str(), &st) != 0) {
    *err = "no cluster \"" + cluster + "\" (nothing under " + local::clusterDir(cluster) + ")";
    return false;
  }
  return true;
}

bool parseFlagDuration(const std::string& flag, const std::string& v, std::chrono::seconds* out,
                       std::string* err) {
  std::chrono::nanoseconds d;
  if (!parseDuration(v, &d) || d.count() <= 0) {
    *err = flag + ": invalid duration \"" + v + "\" (like 30s, 2m, 1h)";
    return false;
  }
  *out = std::chrono::duration_cast<std::chrono::seconds>(d);
  return true;
}

// The instance `id` as the cloud sees it now.
bool findInstance(const std::string& dir, const std::string& id, cloud::Instance* out) {
  for (const cloud::Instance& i : local::peekInstances(dir)) {
    if (i.id == id) {
      *out = i;
      return true;
    }
  }
  return false;
}

std::string noInstance(const Parsed& p) {
  return "no instance " + p.positional[0] + " in cluster " + p.cluster + " (`berth cloud instances --cluster " +
         p.cluster + "` lists them; a node's name is its instance id)";
}

int injectSpot(const std::string& dir, const Parsed& p) {
  if (p.positional.size() != 1) return usageError("spot-interruption takes one INSTANCE_ID");
  cloud::Instance inst;
  if (!findInstance(dir, p.positional[0], &inst)) return fail(noInstance(p));
  if (inst.state == cloud::InstanceState::kTerminated) return fail(inst.id + " is already terminated");
  if (inst.capacity_type != cloud::CapacityType::kSpot) {
    return fail(inst.id + " is an on-demand instance; only spot instances get interruption notices");
  }
  std::chrono::seconds in{120};
  std::string err;
  if (!p.in.empty() && !parseFlagDuration("--in", p.in, &in, &err)) return usageError(err);
  TimePoint when = std::chrono::system_clock::now() + in;
  Status st = local::writeSpotNotice(local::instanceDir(dir, inst.id), when);
  if (!st.isOk()) return fail(st.toString());
  std::printf("spot interruption notice issued for %s: terminated at %s\n", inst.id.c_str(),
              formatRfc3339(when).c_str());
  return 0;
}

// False with a message naming the zone and the cloud's zones when `zone` is not one of them.
bool checkZone(const std::string& dir, const std::string& zone, std::string* err) {
  auto config = local::loadLocalCloudConfig(dir);
  if (!config.isOk()) {
    *err = config.status().toString();
    return false;
  }
  const auto& zones = config->zones;
  if (!zones.empty() && std::find(zones.begin(), zones.end(), zone) == zones.end()) {
    *err = "unknown zone \"" + zone + "\" (this cloud has " + join(zones, ", ") + ")";
    return false;
  }
  return true;
}

int injectCapacity(const std::string& dir, const Parsed& p) {
  if (p.positional.size() != 3) {
    return usageError("insufficient-capacity takes TYPE ZONE spot|on-demand");
  }
  local::CapacityFault f;
  f.instance_type = p.positional[0];
  f.zone = p.positional[1];
  if (auto t = nodegroups::lookupInstanceType(f.instance_type); !t.isOk()) return fail(t.status().message());
  if (std::string err; !checkZone(dir, f.zone, &err)) return fail(err);
  auto ct = cloud::parseCapacityType(p.positional[2]);
  if (!ct.isOk()) return usageError("capacity type must be spot or on-demand, got \"" + p.positional[2] + "\"");
  f.capacity_type = *ct;
  TimePoint now = std::chrono::system_clock::now();
  if (!p.for_.empty()) {
    std::chrono::seconds d;
    std::string err;
    if (!parseFlagDuration("--for", p.for_, &d, &err)) return usageError(err);
    f.until = now + d;
  }
  Status st = local::addCapacityFault(dir, f, now);
  if (!st.isOk()) return fail(st.toString());
  std::printf("no %s capacity for %s in %s %s\n", cloud::toString(f.capacity_type),
              f.instance_type.c_str(), f.zone.c_str(),
              f.until ? ("until " + formatRfc3339(*f.until)).c_str() : "until cleared");
  return 0;
}

int injectCrash(const std::string& dir, const Parsed& p) {
  if (p.positional.size() != 1) return usageError("instance-crash takes one INSTANCE_ID");
  Status st = local::crashInstance(dir, p.positional[0]);
  if (st.code() == Code::kNotFound) return fail(noInstance(p));
  if (!st.isOk()) return fail(st.message());
  std::printf("crashed %s\n", p.positional[0].c_str());
  return 0;
}

int injectZoneOutage(const std::string& dir, const Parsed& p) {
  if (p.positional.size() != 1) return usageError("zone-outage takes one ZONE");
  local::ZoneOutage o;
  o.zone = p.positional[0];
  if (std::string err; !checkZone(dir, o.zone, &err)) return fail(err);
  TimePoint now = std::chrono::system_clock::now();
  if (!p.for_.empty()) {
    std::chrono::seconds d;
    std::string err;
    if (!parseFlagDuration("--for", p.for_, &d, &err)) return usageError(err);
    o.until = now + d;
  }
  // Launches fail first, so no replacement lands in the zone while its instances go down.
  Status st = local::addZoneOutage(dir, o, now);
  if (!st.isOk()) return fail(st.toString());
  std::vector<std::string> crashed;
  for (const cloud::Instance& i : local::peekInstances(dir)) {
    if (i.zone != o.zone || i.state == cloud::InstanceState::kTerminated) continue;
    Status c = local::crashInstance(dir, i.id);
    if (c.isOk()) {
      crashed.push_back(i.id);
    } else if (c.code() != Code::kConflict) {  // gone meanwhile is fine
      return fail(c.message());
    }
  }
  std::printf("zone %s is out %s; crashed %zu instance(s)%s%s\n", o.zone.c_str(),
              o.until ? ("until " + formatRfc3339(*o.until)).c_str() : "until cleared", crashed.size(),
              crashed.empty() ? "" : ": ", join(crashed, " ").c_str());
  return 0;
}

int listInstances(const std::string& dir) {
  std::printf("%-21s %-12s %-10s %-10s %-14s %-32s %s\n", "INSTANCE", "TYPE", "ZONE", "CAPACITY",
              "STATE", "REASON", "PRIVATE-IP");
  for (const cloud::Instance& i : local::peekInstances(dir)) {
    std::printf("%-21s %-12s %-10s %-10s %-14s %-32s %s\n", i.id.c_str(), i.instance_type.c_str(),
                i.zone.c_str(), cloud::toString(i.capacity_type), cloud::toString(i.state),
                i.state_reason.empty() ? "-" : i.state_reason.c_str(),
                i.private_ip.empty() ? "-" : i.private_ip.c_str());
  }
  return 0;
}

}  // namespace

int runCloud(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kCloudUsage, stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "instance-run") {
    if (args.size() != 3 || args[1] != "--state") return usageError("instance-run --state DIR");
    return local::runInstanceSupervisor(args[2]);
  }
  Parsed p;
  std::string err;
  std::string dir;
  if (args[0] == "instances") {
    if (!parseArgs(args, 1, &p, &err)) return usageError(err);
    if (!cloudDirOf(p.cluster, &dir, &err)) return fail(err);
    return listInstances(dir);
  }
  if (args[0] != "inject") return usageError("unknown command \"" + args[0] + "\"");
  if (args.size() < 2) return usageError("inject needs a fault");
  const std::string& fault = args[1];
  if (!parseArgs(args, 2, &p, &err)) return usageError(err);
  if (!cloudDirOf(p.cluster, &dir, &err)) return fail(err);
  if (fault == "spot-interruption") return injectSpot(dir, p);
  if (fault == "insufficient-capacity") return injectCapacity(dir, p);
  if (fault == "instance-crash") return injectCrash(dir, p);
  if (fault == "zone-outage") return injectZoneOutage(dir, p);
  if (fault == "clear") {
    Status st = local::clearFaults(dir);
    if (!st.isOk()) return fail(st.toString());
    std::printf("capacity faults and zone outages cleared\n");
    return 0;
  }
  return usageError("unknown fault \"" + fault + "\"");
}

}  // namespace berth::cmd
