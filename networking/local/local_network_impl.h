// The LocalNetwork implementation (see local_network.h for the contract). Split over
// local_network.cc (state, layout, instances, routes), local_network_build.cc (the kernel
// objects of the VPC) and local_load_balancer.cc (load balancers: a namespace and an HAProxy
// each; load_balancer_plan.h and haproxy_process.h hold their pure logic and process handling).
//
// Names (P = "b" + 5 hex digits of a hash of the cluster name, so every link name fits 15
// characters): namespaces berth-<cluster>-{router,inet,nat<k>,<instance id>} and
// berth-<cluster>-lb-<8 hex of the balancer's id>; in the router namespace bridges P s<i>
// (subnet i), P ri (to the internet namespace), P n<k> (NAT k), P v<n> (instance n), P l<n>
// (a load-balancer leg, whose other end is e<n> in the balancer's namespace), P ch (the host's
// control-plane leg); on the host
// P hc (control-plane leg) and P hi (leg into the internet namespace, peer P ih); nft table
// inet berth_<cluster> on the host, inet berth in the router and NAT namespaces.
//
// Addresses: every subnet's .1 is the router; public addresses (NAT gateways from .16, load
// balancers from .64) come from a per-cluster /24 of 198.18.0.0/15 that the host routes into the
// internet namespace only; .1/.2 of that block are the host<->internet leg, .5/.6 router<->internet.
//
// Thread-safety: one mutex serialises the methods in a process; an flock on
// <state_dir>/network.lock serialises processes (berth cluster create and berth server both
// open the same cluster's network), and every method re-reads the state file under it.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "networking/local/local_network.h"
#include "networking/local/network_state.h"

namespace berth::networking {

inline constexpr int kNatPublicOffset = 16;
inline constexpr int kLbPublicOffset = 64;
inline constexpr char kEchoAddress[] = "203.0.113.10";
inline constexpr int kEchoPort = 80;
// The alias of the host's VPC and internet legs: names the cluster they belong to.
inline constexpr char kLinkAliasPrefix[] = "berth cluster ";

// A stable id suffix: n hex digits from a hash of the seed.
std::string hexId(const std::string& seed, size_t n);

class LocalNetworkImpl final : public LocalNetwork {
 public:
  explicit LocalNetworkImpl(const Options& opts);

  Result<cloud::Vpc> ensureNetwork(const cloud::NetworkSpec& spec) override;
  Result<cloud::Vpc> describeNetwork() override;
  Status deleteNetwork() override;
  Result<cloud::LoadBalancer> ensureLoadBalancer(const cloud::LoadBalancerSpec& spec) override;
  Status deleteLoadBalancer(const std::string& name) override;
  Result<std::vector<cloud::LoadBalancer>> listLoadBalancers() override;
  Status ensureRoute(const std::string& cidr, const std::string& instance_id) override;
  Status deleteRoute(const std::string& cidr) override;
  Result<std::map<std::string, std::string>> listRoutes() override;
  Result<std::string> attachInstance(const std::string& instance_id, const std::string& subnet_id,
                                     std::string* netns) override;
  Status detachInstance(const std::string& instance_id) override;

 private:
  // Runs fn with the state loaded under both locks; saves it afterwards when asked.
  Status locked(const std::function<Status()>& fn, bool save_after = true);
  Status loadState();
  Status saveState();
  std::string statePath() const;
  std::string filesDir() const;  // configs, pid files and logs
  std::string nsName(const std::string& suffix) const;
  std::string routerNs() const { return nsName("router"); }
  std::string inetNs() const { return nsName("inet"); }
  std::string hostTableName() const;
  std::string publicAddress(int offset) const;

  // Layout (names and addresses), decided once and recorded before anything is made.
  Status planLayout(const cloud::NetworkSpec& spec);
  Status planNats(const cloud::NetworkSpec& spec);
  Result<std::string> allocateIp(const std::string& subnet_id) const;
  Result<std::string> pickPublicBlock() const;
  Status checkHostConflicts(const std::string& vpc_cidr) const;

  // Kernel objects (local_network_build.cc); each step is idempotent.
  Status buildNetwork();
  Status buildHostSafety();
  Status buildRouter();
  Status buildInternet();
  Status buildHostLegs();
  Status buildNat(const NatState& n);
  Status buildPolicyRouting();
  Status ensureEchoServer();
  Status buildInstance(const InstanceState& inst, const SubnetState& subnet);
  std::vector<std::string> ownedNamespaces() const;
  Status teardown();

  // Load balancers (local_load_balancer.cc).
  std::vector<std::string> publicZones() const;
  Status planLoadBalancer(const cloud::LoadBalancerSpec& spec, LoadBalancerState* lb);
  Status planLegs(const std::vector<std::string>& zones, LoadBalancerState* lb);
  Status buildLoadBalancerNetwork(const LoadBalancerState& lb);
  Status ensureHaproxy(const cloud::LoadBalancerSpec& spec, LoadBalancerState* lb);
  Status removeLoadBalancer(const LoadBalancerState& lb);
  std::string lbDir(const LoadBalancerState& lb) const;

  const Options opts_;
  const std::string berth_bin_;
  const std::string prefix_;
  std::mutex mu_;
  NetworkState state_;
  bool has_state_ = false;
};

}  // namespace berth::networking
