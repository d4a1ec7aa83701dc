// The kernel objects of a cluster's VPC (see local_network_impl.h for the names and addresses).
#include <filesystem>

#include "common/log.h"
#include "common/ipv4.h"
#include "common/subprocess.h"
#include "networking/local/kernel_ops.h"
#include "networking/local/local_network_impl.h"

namespace berth::networking {

namespace {

std::string withPrefix(const std::string& ip, const std::string& cidr) {
  return ip + "/" + std::to_string(parseCidr(cidr)->prefix);
}

}  // namespace

std::string LocalNetworkImpl::publicAddress(int offset) const {
  return formatIpv4(parseCidr(state_.public_block)->at(offset));
}

Status LocalNetworkImpl::buildNetwork() {
  BERTH_RETURN_IF_ERROR(buildHostSafety());
  BERTH_RETURN_IF_ERROR(ensureNamespace(routerNs()));
  BERTH_RETURN_IF_ERROR(ensureNamespace(inetNs()));
  BERTH_RETURN_IF_ERROR(buildRouter());
  BERTH_RETURN_IF_ERROR(buildInternet());
  BERTH_RETURN_IF_ERROR(buildHostLegs());
  for (const NatState& n : state_.nats) BERTH_RETURN_IF_ERROR(buildNat(n));
  BERTH_RETURN_IF_ERROR(buildPolicyRouting());
  for (const auto& [id, inst] : state_.instances)
    if (const SubnetState* s = state_.findSubnet(inst.subnet_id)) BERTH_RETURN_IF_ERROR(buildInstance(inst, *s));
  for (const auto& [cidr, id] : state_.routes)
    if (auto it = state_.instances.find(id); it != state_.instances.end())
      BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"route", "replace", cidr, "via", it->second.ip}));
  // Load balancers' legs and routes (their HAProxy is ensureLoadBalancer's business).
  for (const auto& [name, lb] : state_.load_balancers)
    if (!lb.legs.empty()) BERTH_RETURN_IF_ERROR(buildLoadBalancerNetwork(lb));
  return ensureEchoServer();
}

// The safety rule: nothing is forwarded by the host between the cloud's links and any other
// interface, in either direction (the host itself is an endpoint of its legs, never a router).
Status LocalNetworkImpl::buildHostSafety() {
  std::string t = hostTableName(), p = "\"" + prefix_ + "*\"";
  std::string script = "table inet " + t + " {}\ndelete table inet " + t + "\ntable inet " + t +
                       " {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n"
                       "    iifname " + p + " oifname != " + p + " counter drop\n"
                       "    iifname != " + p + " oifname " + p + " counter drop\n  }\n}\n";
  return nftIn("", script);
}

Status LocalNetworkImpl::buildRouter() {
  const std::string r = routerNs();
  BERTH_RETURN_IF_ERROR(sysctlIn(r, "net.ipv4.ip_forward", "1"));
  for (const SubnetState& s : state_.subnets) {
    if (!linkExists(r, s.bridge)) BERTH_RETURN_IF_ERROR(ipIn(r, {"link", "add", s.bridge, "type", "bridge"}));
    BERTH_RETURN_IF_ERROR(ipIn(r, {"addr", "replace", withPrefix(s.subnet.gateway_ip, s.subnet.cidr), "dev", s.bridge}));
    BERTH_RETURN_IF_ERROR(ipIn(r, {"link", "set", s.bridge, "up"}));
  }
  const std::string ri = prefix_ + "ri";
  BERTH_RETURN_IF_ERROR(ensureVeth(r, ri, inetNs(), prefix_ + "ir"));
  BERTH_RETURN_IF_ERROR(ipIn(r, {"addr", "replace", publicAddress(5) + "/30", "dev", ri}));
  BERTH_RETURN_IF_ERROR(ipIn(r, {"link", "set", ri, "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(r, {"route", "replace", "default", "via", publicAddress(6), "dev", ri}));
  // The internet may answer but never open a connection into the VPC (or to pod CIDRs): only
  // public addresses (NAT gateways, load balancers) take new connections from outside.
  std::string script = "table inet berth {}\ndelete table inet berth\ntable inet berth {\n"
                       "  chain forward {\n    type filter hook forward priority 0; policy accept;\n"
                       "    iifname \"" + ri + "\" ct state new ip daddr != " + state_.public_block +
                       " counter drop\n  }\n"
                       // Public subnets have no per-instance public addresses: the internet
                       // gateway gives their traffic its own.
                       "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
                       "    oifname \"" + ri + "\" ip saddr " + state_.vpc.cidr + " snat ip to " + publicAddress(5) +
                       "\n  }\n}\n";
  return nftIn(r, script);
}

Status LocalNetworkImpl::buildInternet() {
  const std::string i = inetNs(), ir = prefix_ + "ir";
  BERTH_RETURN_IF_ERROR(sysctlIn(i, "net.ipv4.ip_forward", "1"));
  BERTH_RETURN_IF_ERROR(ipIn(i, {"addr", "replace", publicAddress(6) + "/30", "dev", ir}));
  BERTH_RETURN_IF_ERROR(ipIn(i, {"link", "set", ir, "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(i, {"addr", "replace", std::string(kEchoAddress) + "/32", "dev", "lo"}));
  // Public addresses live behind the router; there is no default route out of here.
  return ipIn(i, {"route", "replace", state_.public_block, "via", publicAddress(5), "dev", ir});
}

Status LocalNetworkImpl::buildHostLegs() {
  const std::string hi = prefix_ + "hi", ih = prefix_ + "ih";
  BERTH_RETURN_IF_ERROR(ensureVeth("", hi, inetNs(), ih));
  BERTH_RETURN_IF_ERROR(ipHost({"addr", "replace", publicAddress(1) + "/30", "dev", hi}));
  BERTH_RETURN_IF_ERROR(ipHost({"link", "set", hi, "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(inetNs(), {"addr", "replace", publicAddress(2) + "/30", "dev", ih}));
  BERTH_RETURN_IF_ERROR(ipIn(inetNs(), {"link", "set", ih, "up"}));
  BERTH_RETURN_IF_ERROR(ipHost({"route", "replace", state_.public_block, "via", publicAddress(2), "dev", hi}));

  const SubnetState* cp = state_.findSubnet(state_.control_plane_subnet);
  if (!cp) return internalError("network state: control-plane subnet " + state_.control_plane_subnet + " missing");
  const std::string hc = prefix_ + "hc", ch = prefix_ + "ch";
  BERTH_RETURN_IF_ERROR(ensureVeth("", hc, routerNs(), ch));
  BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"link", "set", ch, "master", cp->bridge, "up"}));
  BERTH_RETURN_IF_ERROR(ipHost({"addr", "replace", withPrefix(state_.vpc.control_plane_ip, cp->subnet.cidr), "dev", hc}));
  BERTH_RETURN_IF_ERROR(ipHost({"link", "set", hc, "up"}));
  for (const std::string& leg : {hi, hc})
    BERTH_RETURN_IF_ERROR(ipHost({"link", "set", leg, "alias", kLinkAliasPrefix + opts_.cluster}));
  return ipHost({"route", "replace", state_.vpc.cidr, "via", cp->subnet.gateway_ip, "dev", hc, "src",
                 state_.vpc.control_plane_ip});
}

Status LocalNetworkImpl::buildNat(const NatState& n) {
  const SubnetState* s = state_.findSubnet(n.nat.subnet_id);
  if (!s) return internalError("network state: subnet " + n.nat.subnet_id + " of " + n.nat.id + " missing");
  BERTH_RETURN_IF_ERROR(ensureNamespace(n.netns));
  BERTH_RETURN_IF_ERROR(ensureVeth(routerNs(), n.router_link, n.netns, "eth0"));
  BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"link", "set", n.router_link, "master", s->bridge, "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(n.netns, {"addr", "replace", withPrefix(n.nat.private_ip, s->subnet.cidr), "dev", "eth0"}));
  BERTH_RETURN_IF_ERROR(ipIn(n.netns, {"link", "set", "eth0", "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(n.netns, {"addr", "replace", n.nat.public_ip + "/32", "dev", "lo"}));
  BERTH_RETURN_IF_ERROR(ipIn(n.netns, {"route", "replace", "default", "via", s->subnet.gateway_ip}));
  BERTH_RETURN_IF_ERROR(sysctlIn(n.netns, "net.ipv4.ip_forward", "1"));
  // Packets leave by the interface they came in on: no redirects towards the router.
  BERTH_RETURN_IF_ERROR(sysctlIn(n.netns, "net.ipv4.conf.all.send_redirects", "0"));
  BERTH_RETURN_IF_ERROR(sysctlIn(n.netns, "net.ipv4.conf.eth0.send_redirects", "0"));
  const std::string& vpc = state_.vpc.cidr;
  std::string script = "table ip berth {}\ndelete table ip berth\ntable ip berth {\n"
                       "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
                       "    oifname \"eth0\" ip saddr " + vpc + " ip daddr != " + vpc + " snat to " +
                       n.nat.public_ip + "\n  }\n}\n";
  BERTH_RETURN_IF_ERROR(nftIn(n.netns, script));
  return ipIn(routerNs(), {"route", "replace", n.nat.public_ip + "/32", "via", n.nat.private_ip, "dev", s->bridge});
}

// Route tables: the main table holds the subnets, public addresses, pod CIDRs and the default
// route to the internet gateway (the public route table); each private subnet's traffic is
// looked up in its own table (default via its NAT gateway, or unreachable with NAT Disable)
// after the main table's specific routes.
Status LocalNetworkImpl::buildPolicyRouting() {
  const std::string r = routerNs();
  std::vector<int> prefs = {100};
  for (size_t i = 0; i < state_.subnets.size(); ++i) prefs.push_back(200 + static_cast<int>(i));
  for (int pref : prefs)
    while (ipIn(r, {"rule", "del", "pref", std::to_string(pref)}).isOk()) {
    }
  BERTH_RETURN_IF_ERROR(ipIn(r, {"rule", "add", "pref", "100", "lookup", "main", "suppress_prefixlength", "0"}));
  for (size_t i = 0; i < state_.subnets.size(); ++i) {
    const SubnetState& s = state_.subnets[i];
    if (s.subnet.is_public) continue;
    std::string table = std::to_string(s.table);
    const NatState* nat = nullptr;
    for (const NatState& n : state_.nats)
      if (n.nat.id == s.nat_id) nat = &n;
    if (nat) {
      const SubnetState* pub = state_.findSubnet(nat->nat.subnet_id);
      BERTH_RETURN_IF_ERROR(ipIn(r, {"route", "replace", "default", "via", nat->nat.private_ip, "dev",
                                     pub->bridge, "table", table}));
    } else {
      BERTH_RETURN_IF_ERROR(ipIn(r, {"route", "replace", "unreachable", "default", "table", table}));
    }
    BERTH_RETURN_IF_ERROR(ipIn(r, {"rule", "add", "pref", std::to_string(200 + i), "from", s.subnet.cidr,
                                   "lookup", table}));
  }
  return Status::ok();
}

Status LocalNetworkImpl::ensureEchoServer() {
  if (state_.echo_pid > 0 && processMatches(state_.echo_pid, "echo-server")) return Status::ok();
  std::error_code ec;
  std::filesystem::create_directories(filesDir(), ec);
  BERTH_ASSIGN_OR_RETURN(pid_t pid, spawnDetached({"ip", "netns", "exec", inetNs(), berth_bin_, "net", "echo-server",
                                                   "--listen", std::string(kEchoAddress) + ":" + std::to_string(kEchoPort)},
                                                  filesDir() + "/echo-server.log"));
  state_.echo_pid = pid;
  if (!waitListening(pid, kEchoAddress, kEchoPort, std::chrono::seconds(10)))
    return Status(Code::kUnavailable, "the internet namespace's echo server (" + berth_bin_ +
                                          " net echo-server) did not start; see " + filesDir() + "/echo-server.log");
  return Status::ok();
}

Status LocalNetworkImpl::buildInstance(const InstanceState& inst, const SubnetState& subnet) {
  BERTH_RETURN_IF_ERROR(ensureNamespace(inst.netns));
  BERTH_RETURN_IF_ERROR(ensureVeth(routerNs(), inst.router_link, inst.netns, "eth0"));
  BERTH_RETURN_IF_ERROR(ipIn(routerNs(), {"link", "set", inst.router_link, "master", subnet.bridge, "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(inst.netns, {"addr", "replace", withPrefix(inst.ip, subnet.subnet.cidr), "dev", "eth0"}));
  BERTH_RETURN_IF_ERROR(ipIn(inst.netns, {"link", "set", "eth0", "up"}));
  BERTH_RETURN_IF_ERROR(ipIn(inst.netns, {"route", "replace", "default", "via", subnet.subnet.gateway_ip}));
  return ipIn(inst.netns, {"addr", "replace", "169.254.169.254/32", "dev", "lo"});
}

}  // namespace berth::networking
