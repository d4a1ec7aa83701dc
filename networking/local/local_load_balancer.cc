// Load balancers: per balancer a namespace berth-<cluster>-lb-<short id> with a leg into the
// public subnet of each of its zones, its public address (from the cluster's public /24) on lo,
// routed by the VPC router over the legs (ECMP), and an HAProxy in master-worker mode.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/ipv4.h"
#include "common/log.h"
#include "networking/local/haproxy_process.h"
#include "common/subprocess.h"
#include "networking/local/kernel_ops.h"
#include "networking/local/load_balancer_plan.h"
#include "networking/local/local_network_impl.h"

namespace berth::networking {

namespace fs = std::filesystem;

namespace {

constexpr char kActive[] = "active";
constexpr char kProvisioning[] = "provisioning";
// A balancer whose HAProxy is not running (listLoadBalancers; the next ensure restarts it).
constexpr char kImpaired[] = "active_impaired";

std::string shortId(const std::string& id) { return id.substr(3, 8); }  // "lb-" + hex

HaproxyFiles filesIn(const std::string& dir) {
  return {dir + "/haproxy.cfg", dir + "/haproxy.pid", dir + "/haproxy.log"};
}

std::string readAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The master of this configuration: the recorded pid, else the pid file's (a crash between
// the start and the state write).
pid_t runningMaster(int recorded, const HaproxyFiles& files) {
  if (haproxyRunning(recorded, files)) return recorded;
  std::string text = readAll(files.pidfile);
  pid_t from_file = static_cast<pid_t>(std::atol(text.c_str()));
  return haproxyRunning(from_file, files) ? from_file : 0;
}

std::vector<std::pair<std::string, int>> listenAddresses(const cloud::LoadBalancerSpec& spec,
                                                         const std::string& address) {
  std::vector<std::pair<std::string, int>> out;
  for (const cloud::LoadBalancerListener& l : spec.listeners) out.emplace_back(address, l.port);
  return out;
}

}  // namespace

std::string LocalNetworkImpl::lbDir(const LoadBalancerState& lb) const {
  return filesDir() + "/lb-" + shortId(lb.lb.id);
}

std::vector<std::string> LocalNetworkImpl::publicZones() const {
  std::vector<std::string> out;
  for (const SubnetState& s : state_.subnets)
    if (s.subnet.is_public) out.push_back(s.subnet.zone);
  return out;
}

// Id, namespace and public address of a new balancer.
Status LocalNetworkImpl::planLoadBalancer(const cloud::LoadBalancerSpec& spec, LoadBalancerState* lb) {
  std::set<std::string> shorts, taken;
  for (const NatState& n : state_.nats) taken.insert(n.nat.public_ip);
  for (const auto& [name, other] : state_.load_balancers) {
    shorts.insert(shortId(other.lb.id));
    taken.insert(other.lb.address);
  }
  std::string id;
  for (int n = 0; id.empty() || shorts.count(shortId(id)); ++n)
    id = "lb-" + hexId(opts_.cluster + "/lb/" + spec.name + (n ? "/" + std::to_string(n) : ""), 17);
  lb->lb = {spec.name, id, "", kProvisioning};
  BERTH_ASSIGN_OR_RETURN(lb->lb.address, pickLoadBalancerAddress(state_.public_block, taken));
  lb->netns = nsName("lb-" + shortId(id));
  return Status::ok();
}

// One leg per zone: new zones get a leg (an address of the zone's public subnet), legs of
// zones no longer wanted are removed.
Status LocalNetworkImpl::planLegs(const std::vector<std::string>& zones, LoadBalancerState* lb) {
  std::vector<LbLegState> keep;
  for (const LbLegState& leg : lb->legs) {
    if (std::find(zones.begin(), zones.end(), leg.zone) != zones.end()) {
      keep.push_back(leg);
    } else if (linkExists(routerNs(), leg.router_link)) {
      BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"link", "del", leg.router_link}));
    }
  }
  lb->legs = keep;
  for (const std::string& zone : zones) {
    bool has = false;
    for (const LbLegState& leg : lb->legs) has = has || leg.zone == zone;
    if (has) continue;
    const SubnetState* subnet = nullptr;
    for (const SubnetState& s : state_.subnets)
      if (!subnet && s.subnet.is_public && s.subnet.zone == zone) subnet = &s;
    if (!subnet) return internalError("zone " + zone + " has no public subnet");  // checked by the caller
    LbLegState leg;
    leg.zone = zone;
    leg.subnet_id = subnet->subnet.id;
    BERTH_ASSIGN_OR_RETURN(leg.ip, allocateIp(subnet->subnet.id));
    int n = state_.next_link++;
    leg.router_link = prefix_ + "l" + std::to_string(n);
    leg.inner_link = "e" + std::to_string(n);
    lb->legs.push_back(leg);  // allocateIp sees the legs placed so far
    state_.load_balancers[lb->lb.name] = *lb;
  }
  return Status::ok();
}

Status LocalNetworkImpl::buildLoadBalancerNetwork(const LoadBalancerState& lb) {
  const std::string r = routerNs(), ns = lb.netns;
  BERTH_RETURN_IF_ERROR(ensureNamespace(ns));
  // A balancer is an endpoint, never a router between its zones.
  BERTH_RETURN_IF_ERROR(sysctlIn(ns, "net.ipv4.ip_forward", "0"));
  std::vector<std::string> inner_default = {"route", "replace", "default"};
  std::vector<std::string> router_route = {"route", "replace", lb.lb.address + "/32"};
  for (const LbLegState& leg : lb.legs) {
    const SubnetState* s = state_.findSubnet(leg.subnet_id);
    if (!s) return internalError("network state: subnet " + leg.subnet_id + " of load balancer " + lb.lb.name + " missing");
    BERTH_RETURN_IF_ERROR(ensureVeth(r, leg.router_link, ns, leg.inner_link));
    BERTH_RETURN_IF_ERROR(ipIn(r, {"link", "set", leg.router_link, "master", s->bridge, "up"}));
    std::string prefix = std::to_string(parseCidr(s->subnet.cidr)->prefix);
    BERTH_RETURN_IF_ERROR(ipIn(ns, {"addr", "replace", leg.ip + "/" + prefix, "dev", leg.inner_link}));
    BERTH_RETURN_IF_ERROR(ipIn(ns, {"link", "set", leg.inner_link, "up"}));
    inner_default.insert(inner_default.end(), {"nexthop", "via", s->subnet.gateway_ip, "dev", leg.inner_link});
    router_route.insert(router_route.end(), {"nexthop", "via", leg.ip, "dev", s->bridge});
  }
  BERTH_RETURN_IF_ERROR(ipIn(ns, {"addr", "replace", lb.lb.address + "/32", "dev", "lo"}));
  if (lb.legs.empty()) return internalError("load balancer " + lb.lb.name + " has no leg");
  // Traffic to the address is spread over the zones' legs, and so are the balancer's own
  // connections to its targets (through the VPC router, to any subnet).
  BERTH_RETURN_IF_ERROR(ipIn(ns, inner_default));
  return ipIn(r, router_route);
}

// Installs the spec's configuration and starts HAProxy, or reloads it when what it runs
// differs; nothing when it already runs this spec.
Status LocalNetworkImpl::ensureHaproxy(const cloud::LoadBalancerSpec& spec, LoadBalancerState* lb) {
  std::string dir = lbDir(*lb);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return internalError("create " + dir + ": " + ec.message());
  HaproxyFiles files = filesIn(dir);
  std::string text = renderHaproxyConfig(spec, lb->lb.id, lb->lb.address);
  bool file_current = readAll(files.config) == text;
  if (!file_current) BERTH_RETURN_IF_ERROR(installHaproxyConfig(files, text));
  auto listen = listenAddresses(spec, lb->lb.address);
  pid_t master = runningMaster(lb->haproxy_pid, files);
  if (master == 0) {
    BERTH_ASSIGN_OR_RETURN(master, startHaproxy(lb->netns, files, listen));
    BLOG(2, "load balancer started").kv("name", lb->lb.name).kv("address", lb->lb.address).kv("pid", master);
  } else if (!file_current || !sameLoadBalancerSpec(lb->spec, spec)) {
    BERTH_RETURN_IF_ERROR(reloadHaproxy(master, files, listen));
    BLOG(2, "load balancer reloaded").kv("name", lb->lb.name).kv("address", lb->lb.address).kv("pid", master);
  }
  lb->haproxy_pid = master;
  lb->spec = spec;
  return Status::ok();
}

Status LocalNetworkImpl::removeLoadBalancer(const LoadBalancerState& lb) {
  Status first;
  auto note = [&](const Status& st) {
    if (!st.isOk() && first.isOk()) first = st;
  };
  HaproxyFiles files = filesIn(lbDir(lb));
  // The master stops its workers; whatever else runs in the namespace goes with it below.
  if (pid_t master = runningMaster(lb.haproxy_pid, files)) killProcess(master, std::chrono::seconds(5));
  if (namespaceExists(routerNs())) {
    (void)ipIn(routerNs(), {"route", "del", lb.lb.address + "/32"});  // gone with its legs already
    for (const LbLegState& leg : lb.legs)
      if (linkExists(routerNs(), leg.router_link)) note(ipIn(routerNs(), {"link", "del", leg.router_link}));
  }
  note(removeNamespace(lb.netns));
  std::error_code ec;
  fs::remove_all(lbDir(lb), ec);
  return first;
}

// ---- NetworkDriver ----

Result<cloud::LoadBalancer> LocalNetworkImpl::ensureLoadBalancer(const cloud::LoadBalancerSpec& spec_in) {
  BERTH_RETURN_IF_ERROR(validateLoadBalancerSpec(spec_in));
  BERTH_RETURN_IF_ERROR(requireRoot());
  cloud::LoadBalancer out;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    if (!state_.spec) return notFound("cluster " + opts_.cluster + " has no network");
    std::vector<std::string> zones = publicZones();
    cloud::LoadBalancerSpec spec = normalizeLoadBalancerSpec(spec_in, zones);
    if (spec.zones.empty())
      return invalid("spec.zones: the network of cluster " + opts_.cluster + " has no public subnet for a load balancer");
    for (const std::string& z : spec.zones)
      if (std::find(zones.begin(), zones.end(), z) == zones.end())
        return invalid("spec.zones: zone \"" + z + "\" has no public subnet in the network of cluster " + opts_.cluster);
    auto it = state_.load_balancers.find(spec.name);
    if (it != state_.load_balancers.end()) {
      const LoadBalancerState& cur = it->second;
      if (cur.lb.state == kActive && sameLoadBalancerSpec(cur.spec, spec) && namespaceExists(cur.netns) &&
          haproxyRunning(cur.haproxy_pid, filesIn(lbDir(cur)))) {
        out = cur.lb;
        return Status::ok();
      }
    }
    LoadBalancerState lb;
    if (it != state_.load_balancers.end()) {
      lb = it->second;
    } else {
      BERTH_RETURN_IF_ERROR(planLoadBalancer(spec, &lb));
    }
    if (Status st = planLegs(spec.zones, &lb); !st.isOk()) {
      if (it == state_.load_balancers.end()) state_.load_balancers.erase(spec.name);  // nothing made yet
      return st;
    }
    lb.lb.state = lb.lb.state == kActive ? kActive : kProvisioning;
    state_.load_balancers[spec.name] = lb;
    BERTH_RETURN_IF_ERROR(saveState());  // names and addresses recorded before anything is made
    BERTH_RETURN_IF_ERROR(buildLoadBalancerNetwork(lb));
    Status st = ensureHaproxy(spec, &lb);
    if (st.isOk()) lb.lb.state = kActive;
    state_.load_balancers[spec.name] = lb;
    out = lb.lb;
    return st;
  }));
  return out;
}

Status LocalNetworkImpl::deleteLoadBalancer(const std::string& name) {
  BERTH_RETURN_IF_ERROR(requireRoot());
  return locked([&]() -> Status {
    auto it = state_.load_balancers.find(name);
    if (it == state_.load_balancers.end()) return Status::ok();
    BERTH_RETURN_IF_ERROR(removeLoadBalancer(it->second));
    BLOG(2, "load balancer deleted").kv("name", name).kv("address", it->second.lb.address);
    state_.load_balancers.erase(it);
    return Status::ok();
  });
}

Result<std::vector<cloud::LoadBalancer>> LocalNetworkImpl::listLoadBalancers() {
  std::vector<cloud::LoadBalancer> out;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    for (const auto& [name, lb] : state_.load_balancers) {
      cloud::LoadBalancer l = lb.lb;
      if (l.state == kActive && !runningMaster(lb.haproxy_pid, filesIn(lbDir(lb)))) l.state = kImpaired;
      out.push_back(l);
    }
    return Status::ok();
  }, false));
  return out;
}

}  // namespace berth::networking
