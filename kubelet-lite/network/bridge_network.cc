#include "kubelet-lite/network/bridge_network.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "common/subprocess.h"
#include "kubelet-lite/runtime/netlink.h"

namespace berth::kubelet::net {

namespace fs = std::filesystem;

std::string hashHex(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string bridgeName(const std::string& node) { return "bpod" + hashHex(node).substr(0, 10); }

std::string vethName(const std::string& node, const std::string& sandbox_id) {
  return "vpod" + hashHex(node + "/" + sandbox_id).substr(0, 10);
}

bool inNamedNetns() {
  struct stat self {};
  if (::stat("/proc/self/ns/net", &self) != 0) return false;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && st.st_ino == self.st_ino && st.st_dev == self.st_dev)
      return true;
  }
  return false;
}

namespace {

// Runs `ip [-n netns] -batch -` with `script`; errors carry ip's output.
Status ipBatch(const std::string& netns, const std::string& script, const std::string& what) {
  std::vector<std::string> argv = {"ip"};
  if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
  argv.insert(argv.end(), {"-batch", "-"});
  auto r = runCommand(argv, std::chrono::seconds(30), script);
  if (!r.isOk()) return r.status().withContext(what);
  if (r->exit_code != 0) return internalError(what + ": " + r->out);
  return Status::ok();
}

bool linkExists(const std::string& name) { return fs::exists("/sys/class/net/" + name); }

}  // namespace

BridgeNetwork::BridgeNetwork(Options opts, std::unique_ptr<Ipam> ipam)
    : opts_(std::move(opts)), ipam_(std::move(ipam)), bridge_(bridgeName(opts_.node_name)) {}

Result<std::unique_ptr<BridgeNetwork>> BridgeNetwork::start(const Options& opts) {
  if (opts.node_name.empty()) return invalid("pod network: the node name is required");
  if (opts.pod_cidr.empty())
    return invalid("pod network: node " + opts.node_name + " has no spec.podCIDR");
  auto ipam = Ipam::open(opts.pod_cidr, opts.state_dir + "/ipam.json");
  if (!ipam.isOk()) return ipam.status().withContext("pod network of node " + opts.node_name);
  std::unique_ptr<BridgeNetwork> n(new BridgeNetwork(opts, std::move(ipam).value()));
  BERTH_RETURN_IF_ERROR(n->ensureBridge());
  BERTH_RETURN_IF_ERROR(n->ensureGuard());
  BLOG(0, "pod network ready").kv("node", opts.node_name).kv("bridge", n->bridge_)
      .kv("gateway", n->gateway()).kv("podCIDR", opts.pod_cidr);
  return n;
}

Status BridgeNetwork::ensureBridge() {
  const Ipv4Cidr& c = ipam_->cidr();
  std::string script;
  if (!linkExists(bridge_)) script += "link add " + bridge_ + " type bridge\n";
  // A stale gateway of an earlier pod CIDR would keep routing its range here.
  auto flush = runCommand({"ip", "-4", "addr", "flush", "dev", bridge_});
  (void)flush;
  script += "addr replace " + formatIpv4(ipam_->gateway()) + "/" + std::to_string(c.prefix) +
            " dev " + bridge_ + "\n";
  script += "link set " + bridge_ + " up\n";
  BERTH_RETURN_IF_ERROR(ipBatch("", script, "creating pod bridge " + bridge_));
  std::ofstream fwd("/proc/sys/net/ipv4/ip_forward");
  fwd << "1\n";
  if (!fwd) return internalError("turning on /proc/sys/net/ipv4/ip_forward");
  return Status::ok();
}

Status BridgeNetwork::ensureGuard() {
  guard_table_ = guardTable(opts_.node_name);
  if (guard_table_.empty()) return Status::ok();
  // Replaced as a whole in one transaction; the filter hook sees routed traffic only (bridged
  // traffic between pods of one bridge has the veths as interfaces).
  std::string rules = "table ip " + guard_table_ + " {}\ndelete table ip " + guard_table_ +
                      "\ntable ip " + guard_table_ + " {\n  chain forward {\n"
                      "    type filter hook forward priority filter; policy accept;\n"
                      "    iifname \"" + bridge_ + "\" oifname != \"bpod*\" drop\n  }\n}\n";
  auto r = runCommand({"nft", "-f", "-"}, std::chrono::seconds(30), rules);
  if (!r.isOk()) return r.status().withContext("installing the pod egress guard");
  if (r->exit_code != 0) return internalError("installing the pod egress guard: " + r->out);
  return Status::ok();
}

std::string BridgeNetwork::guardTable(const std::string& node) {
  return inNamedNetns() ? "" : "berth_podnet_" + hashHex(node).substr(0, 10);
}

Result<std::string> BridgeNetwork::attach(const PodNetworkAttachment& a) {
  BERTH_ASSIGN_OR_RETURN(uint32_t ip, ipam_->allocate(a.sandbox_id));
  std::string veth = vethName(opts_.node_name, a.sandbox_id);
  std::string netns_path = "/run/netns/" + a.netns;
  // Netlink from the agent, no `ip` process: the host end in the agent's namespace (this
  // thread's), eth0 from a thread that joins the pod's.
  BERTH_ASSIGN_OR_RETURN(nl::RouteNetlink host, nl::RouteNetlink::open());
  // Rewire from scratch: an earlier attempt may have stopped half-way.
  if (auto old = host.linkIndex(veth); old.isOk()) (void)host.deleteLink(*old);
  if (!a.fresh) {
    (void)nl::runInNetns(netns_path, [] {
      BERTH_ASSIGN_OR_RETURN(nl::RouteNetlink pod, nl::RouteNetlink::open());
      auto eth0 = pod.linkIndex("eth0");
      return eth0.isOk() ? pod.deleteLink(*eth0) : Status::ok();
    });
  }
  std::string what = "creating the link of pod " + a.pod;
  int nsfd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return internalError(what + ": opening " + netns_path + ": " + std::strerror(errno));
  Status st = host.addVeth(veth, "eth0", nsfd);
  ::close(nsfd);
  BERTH_RETURN_IF_ERROR(st.withContext(what));
  BERTH_ASSIGN_OR_RETURN(int index, host.linkIndex(veth));
  BERTH_ASSIGN_OR_RETURN(int bridge, host.linkIndex(bridge_));
  BERTH_RETURN_IF_ERROR(host.setMaster(index, bridge).withContext(what));
  BERTH_RETURN_IF_ERROR(host.setHairpin(index).withContext(what));
  BERTH_RETURN_IF_ERROR(host.setUp(index).withContext(what));
  std::string addr = formatIpv4(ip);
  int prefix = ipam_->cidr().prefix;
  std::string gw = gateway();
  BERTH_RETURN_IF_ERROR(nl::runInNetns(netns_path, [&]() -> Status {
    BERTH_ASSIGN_OR_RETURN(nl::RouteNetlink pod, nl::RouteNetlink::open());
    BERTH_ASSIGN_OR_RETURN(int lo, pod.linkIndex("lo"));
    BERTH_RETURN_IF_ERROR(pod.setUp(lo));
    BERTH_ASSIGN_OR_RETURN(int eth0, pod.linkIndex("eth0"));
    BERTH_RETURN_IF_ERROR(pod.addAddress(eth0, addr, prefix));
    BERTH_RETURN_IF_ERROR(pod.setUp(eth0));
    return pod.replaceDefaultRoute(gw, eth0);
  }).withContext("configuring eth0 of pod " + a.pod));
  BLOG(2, "pod attached").kv("pod", a.pod).kv("ip", addr).kv("veth", veth);
  return addr;
}

Status BridgeNetwork::detach(const std::string& sandbox_id) {
  std::string veth = vethName(opts_.node_name, sandbox_id);
  if (!linkExists(veth)) return Status::ok();
  BERTH_ASSIGN_OR_RETURN(nl::RouteNetlink host, nl::RouteNetlink::open());
  auto index = host.linkIndex(veth);
  if (!index.isOk()) return index.status().code() == Code::kNotFound ? Status::ok() : index.status();
  Status st = host.deleteLink(*index);
  if (!st.isOk() && st.code() != Code::kNotFound) return st.withContext("deleting " + veth);
  return Status::ok();
}

Status BridgeNetwork::release(const std::string& sandbox_id) { return ipam_->release(sandbox_id); }

Status BridgeNetwork::teardown() {
  if (!guard_table_.empty()) (void)runCommand({"nft", "delete", "table", "ip", guard_table_});
  if (!linkExists(bridge_)) return Status::ok();
  auto r = runCommand({"ip", "link", "del", bridge_});
  if (!r.isOk()) return r.status();
  if (r->exit_code != 0) return internalError("deleting bridge " + bridge_ + ": " + r->out);
  return Status::ok();
}

}  // namespace berth::kubelet::net
