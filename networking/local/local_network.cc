#include "networking/local/local_network.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "common/strings.h"
#include "common/ipv4.h"
#include "common/subprocess.h"
#include "networking/local/kernel_ops.h"
#include "networking/local/local_network_impl.h"
#include "networking/vpc_plan.h"

namespace berth::networking {

namespace fs = std::filesystem;

namespace {

constexpr char kPublicRange[] = "198.18.0.0/15";
constexpr int kFirstPrivateTable = 100;
constexpr int kRulePrefMain = 100;
constexpr int kRulePrefSubnets = 200;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

std::string hexId(const std::string& seed, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  uint64_t h = fnv1a(seed);
  for (size_t i = 0; i < n; ++i) {
    if (i % 16 == 15) h = fnv1a(seed + std::to_string(i));
    out += kHex[h & 15];
    h >>= 4;
  }
  return out;
}

namespace {

Status checkClusterName(const std::string& c) {
  static const std::regex kName("^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$");
  if (!std::regex_match(c, kName))
    return invalid("cluster name \"" + c + "\" must be 1-20 characters of [a-z0-9-], starting and ending alphanumeric");
  return Status::ok();
}

std::string selfExe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "berth" : p.string();
}

// The spec as planNetwork input, so the same validation runs on specs that did not come from it.
Result<cloud::NetworkSpec> validateSpec(const cloud::NetworkSpec& spec, const std::string& cluster) {
  if (!spec.cluster.empty() && spec.cluster != cluster)
    return invalid("spec.cluster: \"" + spec.cluster + "\" is not this network's cluster \"" + cluster + "\"");
  VpcConfig cfg{.cidr = spec.vpc_cidr, .nat_gateway = toString(spec.nat)};
  for (const cloud::SubnetSpec& s : spec.subnets) {
    auto& m = s.is_public ? cfg.public_subnets : cfg.private_subnets;
    if (!m.emplace(s.zone, s.cidr).second)
      return invalid(std::string("vpc.subnets.") + (s.is_public ? "public." : "private.") + s.zone +
                     ": more than one subnet of this kind in the zone");
  }
  if (spec.subnets.empty()) return invalid("vpc.subnets: the network has no subnets");
  BERTH_ASSIGN_OR_RETURN(cloud::NetworkSpec planned, planNetwork(cluster, spec.region, spec.zones, cfg));
  planned.subnets = spec.subnets;  // keep the caller's order (public first, zone order)
  return planned;
}

bool sameSpec(const cloud::NetworkSpec& a, const cloud::NetworkSpec& b) {
  if (a.vpc_cidr != b.vpc_cidr || a.nat != b.nat || a.subnets.size() != b.subnets.size()) return false;
  for (size_t i = 0; i < a.subnets.size(); ++i)
    if (a.subnets[i].cidr != b.subnets[i].cidr || a.subnets[i].zone != b.subnets[i].zone ||
        a.subnets[i].is_public != b.subnets[i].is_public)
      return false;
  return true;
}

// A host route's destination and device ("192.168.0.0/16 via 192.168.96.1 dev bd290bhc ...").
struct HostRoute {
  Ipv4Cidr dst;
  std::string dev;
};

Result<std::vector<HostRoute>> hostRoutesWithDevices() {
  BERTH_ASSIGN_OR_RETURN(std::string text, runChecked({"ip", "-4", "-o", "route", "show"}));
  std::vector<HostRoute> out;
  for (const std::string& line : split(text, '\n')) {
    std::vector<std::string> words;
    for (const std::string& w : split(std::string(trim(line)), ' '))
      if (!w.empty()) words.push_back(w);
    if (words.empty() || words[0] == "default") continue;
    std::string dst = words[0].find('/') == std::string::npos ? words[0] + "/32" : words[0];
    auto c = parseCidr(dst);
    if (!c.isOk()) continue;
    HostRoute r{*c, ""};
    for (size_t i = 0; i + 1 < words.size(); ++i)
      if (words[i] == "dev") r.dev = words[i + 1];
    out.push_back(r);
  }
  return out;
}

// The flock /run/berth/local-vpcs.lock, held while a new cluster's VPC is planned and built.
class HostLock {
 public:
  HostLock() = default;
  HostLock(const HostLock&) = delete;
  HostLock& operator=(const HostLock&) = delete;
  ~HostLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status acquire() {
    std::error_code ec;
    fs::create_directories("/run/berth", ec);
    fd_ = ::open("/run/berth/local-vpcs.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) return internalError(std::string("open /run/berth/local-vpcs.lock: ") + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
    return Status::ok();
  }

 private:
  int fd_ = -1;
};

// The cluster a host link belongs to, from the alias the VPC legs carry ("berth cluster C").
std::string clusterOfLink(const std::string& dev) {
  if (dev.empty() || dev.find('/') != std::string::npos) return "";
  std::ifstream f("/sys/class/net/" + dev + "/ifalias");
  std::string alias;
  std::getline(f, alias);
  const std::string tag = kLinkAliasPrefix;
  return alias.rfind(tag, 0) == 0 ? alias.substr(tag.size()) : "";
}

// A /16 of 10.0.0.0/8 below the service range (10.96.0.0/12) that no host route touches.
std::string freeVpcCidr(const std::vector<HostRoute>& routes) {
  for (int second = 1; second < 96; ++second) {
    Ipv4Cidr cand = *parseCidr("10." + std::to_string(second) + ".0.0/16");
    bool taken = false;
    for (const HostRoute& r : routes) taken = taken || (r.dst.prefix > 0 && r.dst.overlaps(cand));
    if (!taken) return cand.toString();
  }
  return "";
}

}  // namespace

Status checkVpcCidrFree(const std::string& cluster, const std::string& vpc_cidr) {
  auto parsed = parseCidr(vpc_cidr);
  if (!parsed.isOk()) return invalid("vpc.cidr: " + parsed.status().message());
  Ipv4Cidr vpc = *parsed;
  for (const char* reserved : {"127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3", kPublicRange, "203.0.113.0/24"}) {
    if (parseCidr(reserved)->overlaps(vpc))
      return invalid("vpc.cidr: " + vpc_cidr + " overlaps " + reserved + ", which the local cloud reserves");
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<HostRoute> routes, hostRoutesWithDevices());
  const std::string own_leg = "b" + hexId("prefix/" + cluster, 5) + "hc";
  for (const HostRoute& r : routes) {
    if (r.dst.prefix == 0 || !r.dst.overlaps(vpc) || r.dev == own_leg) continue;
    std::string owner = clusterOfLink(r.dev);
    std::string free = freeVpcCidr(routes);
    std::string how = "set vpc.cidr in the ClusterConfig to a range no other cluster or network of this machine uses" +
                      (free.empty() ? std::string() : " (" + free + " is free now)");
    if (!owner.empty())
      return invalid("vpc.cidr: " + vpc_cidr + " is already used by local cluster \"" + owner + "\" (its VPC " +
                     r.dst.toString() + " is routed on this machine over " + r.dev +
                     "); two local clusters cannot share VPC addresses: " + how);
    return invalid("vpc.cidr: " + vpc_cidr + " overlaps this machine's route to " + r.dst.toString() +
                   (r.dev.empty() ? "" : " (dev " + r.dev + ")") + ": " + how);
  }
  return Status::ok();
}

// ---- construction, locking, state ----

LocalNetworkImpl::LocalNetworkImpl(const Options& opts)
    : opts_(opts),
      berth_bin_(opts.berth_binary.empty() ? selfExe() : opts.berth_binary),
      prefix_("b" + hexId("prefix/" + opts.cluster, 5)) {}

Result<std::unique_ptr<LocalNetwork>> LocalNetwork::open(const Options& opts) {
  BERTH_RETURN_IF_ERROR(checkClusterName(opts.cluster));
  if (opts.state_dir.empty()) return invalid("state_dir is required");
  std::error_code ec;
  fs::create_directories(opts.state_dir, ec);
  if (ec) return internalError("create " + opts.state_dir + ": " + ec.message());
  return std::unique_ptr<LocalNetwork>(new LocalNetworkImpl(opts));
}

std::string LocalNetworkImpl::statePath() const { return opts_.state_dir + "/network.json"; }
std::string LocalNetworkImpl::filesDir() const { return opts_.state_dir + "/network"; }

std::string LocalNetworkImpl::nsName(const std::string& suffix) const {
  return "berth-" + opts_.cluster + "-" + suffix;
}

Status LocalNetworkImpl::locked(const std::function<Status()>& fn, bool save_after) {
  std::lock_guard<std::mutex> l(mu_);
  std::string lock_path = opts_.state_dir + "/network.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return internalError("open " + lock_path + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  Status st = loadState();
  if (st.isOk()) st = fn();
  if (save_after && has_state_) {
    Status saved = saveState();
    if (st.isOk()) st = saved;
  }
  ::close(fd);  // releases the flock
  return st;
}

Status LocalNetworkImpl::loadState() {
  std::ifstream f(statePath());
  if (!f) {
    state_ = NetworkState{};
    state_.cluster = opts_.cluster;
    state_.prefix = prefix_;
    has_state_ = false;
    return Status::ok();
  }
  std::stringstream ss;
  ss << f.rdbuf();
  BERTH_ASSIGN_OR_RETURN(state_, networkStateFromJson(ss.str()));
  has_state_ = true;
  return Status::ok();
}

Status LocalNetworkImpl::saveState() {
  state_.vpc.subnets.clear();
  state_.vpc.nat_gateways.clear();
  for (const SubnetState& s : state_.subnets) state_.vpc.subnets.push_back(s.subnet);
  for (const NatState& n : state_.nats) state_.vpc.nat_gateways.push_back(n.nat);
  std::string tmp = statePath() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << toJson(state_);
    if (!f) return internalError("write " + tmp);
  }
  if (::rename(tmp.c_str(), statePath().c_str()) != 0)
    return internalError("rename " + tmp + ": " + std::strerror(errno));
  has_state_ = true;
  return Status::ok();
}

// ---- layout: names and addresses, decided once and recorded ----

Result<std::string> LocalNetworkImpl::allocateIp(const std::string& subnet_id) const {
  const SubnetState* s = state_.findSubnet(subnet_id);
  if (!s) return notFound("subnet " + subnet_id + " is not in the network of cluster " + opts_.cluster);
  BERTH_ASSIGN_OR_RETURN(Ipv4Cidr c, parseCidr(s->subnet.cidr));
  std::set<std::string> used;
  for (const std::string& a : state_.usedAddresses()) used.insert(a);
  // .0 network, .1 router, .2 DNS, .3 reserved (as in a VPC); the last is broadcast.
  for (uint64_t n = 4; n + 1 < c.size(); ++n) {
    std::string a = formatIpv4(c.at(n));
    if (!used.count(a)) return a;
  }
  return Status(Code::kUnavailable, "subnet " + subnet_id + " (" + s->subnet.cidr + ") has no free address");
}

Result<std::string> LocalNetworkImpl::pickPublicBlock() const {
  BERTH_ASSIGN_OR_RETURN(std::vector<Ipv4Cidr> routes, hostRoutes());
  Ipv4Cidr range = *parseCidr(kPublicRange);
  uint64_t blocks = range.size() / 256;
  uint64_t start = fnv1a("public/" + opts_.cluster) % blocks;
  for (uint64_t i = 0; i < blocks; ++i) {
    Ipv4Cidr b{range.at(((start + i) % blocks) * 256), 24};
    bool taken = false;
    for (const Ipv4Cidr& r : routes) taken = taken || r.overlaps(b);
    if (!taken) return b.toString();
  }
  return Status(Code::kUnavailable, std::string("no free /24 left in ") + kPublicRange);
}

Status LocalNetworkImpl::checkHostConflicts(const std::string& vpc_cidr) const {
  return checkVpcCidrFree(opts_.cluster, vpc_cidr);
}

Status LocalNetworkImpl::planLayout(const cloud::NetworkSpec& spec) {
  const std::string& c = opts_.cluster;
  BERTH_RETURN_IF_ERROR(checkHostConflicts(spec.vpc_cidr));
  BERTH_ASSIGN_OR_RETURN(state_.public_block, pickPublicBlock());
  state_.cluster = c;
  state_.prefix = prefix_;
  state_.spec = spec;
  state_.vpc = {};
  state_.vpc.id = "vpc-" + hexId(c + "/vpc", 17);
  state_.vpc.cluster = c;
  state_.vpc.cidr = spec.vpc_cidr;
  state_.vpc.state = "pending";
  state_.subnets.clear();
  state_.nats.clear();
  for (size_t i = 0; i < spec.subnets.size(); ++i) {
    const cloud::SubnetSpec& ss = spec.subnets[i];
    Ipv4Cidr cidr = *parseCidr(ss.cidr);
    SubnetState s;
    s.subnet = {"subnet-" + hexId(c + "/subnet/" + ss.cidr, 17), ss.zone, ss.cidr, ss.is_public,
                formatIpv4(cidr.at(1))};
    s.bridge = prefix_ + "s" + std::to_string(i);
    s.table = ss.is_public ? 0 : kFirstPrivateTable + static_cast<int>(i);
    state_.subnets.push_back(std::move(s));
  }
  BERTH_RETURN_IF_ERROR(planNats(spec));
  const SubnetState* cp = nullptr;
  for (const SubnetState& s : state_.subnets)
    if (!cp && !s.subnet.is_public) cp = &s;
  if (!cp) cp = &state_.subnets.front();
  state_.control_plane_subnet = cp->subnet.id;
  BERTH_ASSIGN_OR_RETURN(state_.vpc.control_plane_ip, allocateIp(cp->subnet.id));
  return Status::ok();
}

Status LocalNetworkImpl::planNats(const cloud::NetworkSpec& spec) {
  Ipv4Cidr block = *parseCidr(state_.public_block);
  std::set<std::string> zones_with_nat;
  for (const SubnetState& s : state_.subnets) {
    if (!s.subnet.is_public || spec.nat == cloud::NatMode::kDisable) continue;
    if (spec.nat == cloud::NatMode::kSingle && !state_.nats.empty()) break;
    if (!zones_with_nat.insert(s.subnet.zone).second) continue;
    size_t k = state_.nats.size();
    NatState n;
    n.nat.id = "nat-" + hexId(opts_.cluster + "/nat/" + s.subnet.zone, 17);
    n.nat.zone = s.subnet.zone;
    n.nat.subnet_id = s.subnet.id;
    n.nat.public_ip = formatIpv4(block.at(kNatPublicOffset + k));
    n.nat.state = "pending";
    n.netns = nsName("nat" + std::to_string(k));
    n.router_link = prefix_ + "n" + std::to_string(k);
    state_.nats.push_back(n);  // allocateIp sees the NATs placed so far
    BERTH_ASSIGN_OR_RETURN(state_.nats.back().nat.private_ip, allocateIp(s.subnet.id));
  }
  for (SubnetState& s : state_.subnets) {
    if (s.subnet.is_public || state_.nats.empty()) continue;
    s.nat_id = state_.nats.front().nat.id;
    if (spec.nat == cloud::NatMode::kHighlyAvailable)
      for (const NatState& n : state_.nats)
        if (n.nat.zone == s.subnet.zone) s.nat_id = n.nat.id;
  }
  return Status::ok();
}

// ---- NetworkDriver ----

Result<cloud::Vpc> LocalNetworkImpl::ensureNetwork(const cloud::NetworkSpec& spec_in) {
  BERTH_ASSIGN_OR_RETURN(cloud::NetworkSpec spec, validateSpec(spec_in, opts_.cluster));
  BERTH_RETURN_IF_ERROR(requireRoot());
  cloud::Vpc out;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    if (state_.spec && !sameSpec(*state_.spec, spec))
      return invalid("the network of cluster " + opts_.cluster + " already exists with VPC " +
                     state_.spec->vpc_cidr + " and other subnets; delete it before changing them");
    // A first create holds the host-wide lock until its host routes exist, so two clusters
    // created at once cannot both pick the same VPC CIDR or public block.
    HostLock host_lock;
    if (!state_.spec) {
      BERTH_RETURN_IF_ERROR(host_lock.acquire());
      BERTH_RETURN_IF_ERROR(planLayout(spec));
      BERTH_RETURN_IF_ERROR(saveState());  // names recorded before anything is made
    }
    BERTH_RETURN_IF_ERROR(buildNetwork());
    state_.vpc.state = "available";
    for (NatState& n : state_.nats) n.nat.state = "available";
    BLOG(2, "network ready").kv("cluster", opts_.cluster).kv("vpc", state_.vpc.id).kv("cidr", state_.vpc.cidr);
    return Status::ok();
  }));
  BERTH_ASSIGN_OR_RETURN(out, describeNetwork());
  return out;
}

Result<cloud::Vpc> LocalNetworkImpl::describeNetwork() {
  cloud::Vpc out;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    if (!state_.spec) return notFound("cluster " + opts_.cluster + " has no network");
    out = state_.vpc;
    out.subnets.clear();
    out.nat_gateways.clear();
    for (const SubnetState& s : state_.subnets) out.subnets.push_back(s.subnet);
    for (const NatState& n : state_.nats) out.nat_gateways.push_back(n.nat);
    return Status::ok();
  }, false));
  return out;
}

Status LocalNetworkImpl::deleteNetwork() {
  BERTH_RETURN_IF_ERROR(requireRoot());
  return locked([&]() -> Status {
    BERTH_RETURN_IF_ERROR(teardown());
    std::error_code ec;
    fs::remove_all(filesDir(), ec);
    fs::remove(statePath(), ec);
    fs::remove(opts_.state_dir + "/network.lock", ec);
    has_state_ = false;
    BLOG(2, "network deleted").kv("cluster", opts_.cluster);
    return Status::ok();
  }, false);
}

std::vector<std::string> LocalNetworkImpl::ownedNamespaces() const {
  std::set<std::string> out;
  for (const char* fixed : {"router", "inet"}) out.insert(nsName(fixed));
  for (const NatState& n : state_.nats) out.insert(n.netns);
  for (const auto& [id, i] : state_.instances) out.insert(i.netns);
  for (const auto& [name, lb] : state_.load_balancers) out.insert(lb.netns);
  // Found by name when the state was lost: exactly this cluster's suffixes, never a longer
  // cluster name that starts with ours.
  std::regex mine("^berth-" + opts_.cluster + "-(router|inet|lb(-[0-9a-f]+)?|nat[0-9]+|i-[0-9a-f]+)$");
  for (const std::string& n : listNamespaces())
    if (std::regex_match(n, mine)) out.insert(n);
  return {out.begin(), out.end()};
}

Status LocalNetworkImpl::teardown() {
  Status first;
  auto note = [&](const Status& st) {
    if (!st.isOk() && first.isOk()) first = st;
  };
  // Instances and load balancers (their HAProxy with them) first, the router last: nothing is left half-connected.
  for (const std::string& ns : ownedNamespaces()) note(removeNamespace(ns));
  // Veths whose peer was in a deleted namespace vanish on their own (asynchronously).
  for (const std::string& link : hostLinksWithPrefix(prefix_))
    if (Status st = ipHost({"link", "del", link}); !st.isOk() && linkExists("", link)) note(st);
  note(deleteNftTable("", hostTableName()));
  if (state_.echo_pid > 0 && processMatches(state_.echo_pid, "echo-server")) killProcess(state_.echo_pid);
  return first;
}

std::string LocalNetworkImpl::hostTableName() const {
  std::string t = "berth_" + opts_.cluster;
  for (char& c : t)
    if (c == '-') c = '_';
  return t;
}

// ---- instances ----

Result<std::string> LocalNetworkImpl::attachInstance(const std::string& instance_id,
                                                     const std::string& subnet_id, std::string* netns) {
  static const std::regex kId("^i-[0-9a-f]{1,17}$");
  if (!std::regex_match(instance_id, kId))
    return invalid("instance id \"" + instance_id + "\" must be i- followed by up to 17 hex digits");
  BERTH_RETURN_IF_ERROR(requireRoot());
  std::string ip;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    if (!state_.spec) return notFound("cluster " + opts_.cluster + " has no network");
    const SubnetState* subnet = state_.findSubnet(subnet_id);
    if (!subnet) return invalid("subnet_id: " + subnet_id + " is not a subnet of cluster " + opts_.cluster);
    auto it = state_.instances.find(instance_id);
    if (it != state_.instances.end() && it->second.subnet_id != subnet_id)
      return invalid("instance " + instance_id + " is already attached to subnet " + it->second.subnet_id);
    if (it == state_.instances.end()) {
      InstanceState inst;
      inst.subnet_id = subnet_id;
      BERTH_ASSIGN_OR_RETURN(inst.ip, allocateIp(subnet_id));
      inst.netns = nsName(instance_id);
      inst.router_link = prefix_ + "v" + std::to_string(state_.next_link++);
      it = state_.instances.emplace(instance_id, inst).first;
      BERTH_RETURN_IF_ERROR(saveState());
    }
    BERTH_RETURN_IF_ERROR(buildInstance(it->second, *subnet));
    ip = it->second.ip;
    if (netns) *netns = it->second.netns;
    return Status::ok();
  }));
  return ip;
}

Status LocalNetworkImpl::detachInstance(const std::string& instance_id) {
  BERTH_RETURN_IF_ERROR(requireRoot());
  return locked([&]() -> Status {
    auto it = state_.instances.find(instance_id);
    std::string netns = it != state_.instances.end() ? it->second.netns : nsName(instance_id);
    BERTH_RETURN_IF_ERROR(removeNamespace(netns));
    if (it == state_.instances.end()) return Status::ok();
    for (auto r = state_.routes.begin(); r != state_.routes.end();) {
      if (r->second == instance_id) {
        (void)ipIn(routerNs(), {"route", "del", r->first});
        r = state_.routes.erase(r);
      } else {
        ++r;
      }
    }
    state_.instances.erase(it);
    return Status::ok();
  });
}

Status LocalNetworkImpl::ensureRoute(const std::string& cidr, const std::string& instance_id) {
  auto c = parseCidr(cidr);
  if (!c.isOk()) return invalid("cidr: " + c.status().message());
  BERTH_RETURN_IF_ERROR(requireRoot());
  return locked([&]() -> Status {
    auto it = state_.instances.find(instance_id);
    if (it == state_.instances.end())
      return notFound("instance " + instance_id + " is not attached to the network of cluster " + opts_.cluster);
    BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"route", "replace", c->toString(), "via", it->second.ip}));
    state_.routes[c->toString()] = instance_id;
    return Status::ok();
  });
}

Status LocalNetworkImpl::deleteRoute(const std::string& cidr) {
  auto c = parseCidr(cidr);
  if (!c.isOk()) return invalid("cidr: " + c.status().message());
  BERTH_RETURN_IF_ERROR(requireRoot());
  return locked([&]() -> Status {
    if (!state_.routes.erase(c->toString())) return Status::ok();
    auto st = ipIn(routerNs(), {"route", "del", c->toString()});
    if (!st.isOk() && st.message().find("No such process") == std::string::npos) return st;
    return Status::ok();
  });
}

Result<std::map<std::string, std::string>> LocalNetworkImpl::listRoutes() {
  std::map<std::string, std::string> out;
  BERTH_RETURN_IF_ERROR(locked([&]() -> Status {
    out = state_.routes;
    return Status::ok();
  }, false));
  return out;
}

}  // namespace berth::networking
