// BridgeNetwork: the node's pod network on the kernel, like kubenet / the CNI bridge plugin.
//
// - One Linux bridge per node in the agent's network namespace, named "bpod" + a hash of the node
//   name (several agents can share one namespace, as scripts/run-cluster.sh runs three on the
//   host), holding the gateway address: the first address of the node's spec.podCIDR.
// - Per pod a veth pair "vpod" + hash(node, sandbox) on the bridge (hairpin on), whose peer is
//   eth0 in the pod's namespace with an address from the pod CIDR (Ipam, persisted under
//   <state_dir>/ipam.json) and a default route via the gateway.
// - ip_forward is turned on in the node's namespace. Pods on other bridges of the same namespace
//   are reached directly; pods of nodes in other namespaces through routes the route controller
//   asks the cloud for (NetworkDriver::ensureRoute). No masquerade: pod traffic never leaves
//   with the node's address.
// - When the agent runs in a namespace the project did not create (the host's), the table
//   "berth_podnet_<hash>" drops anything forwarded from the bridge to an interface that is not a
//   pod bridge: pods can not send a packet off the machine through the host's uplink.
//
// The bridge, the guard and the pods' links outlive the agent (its pods keep running and a
// restarted agent adopts them, as kubelet's do); teardown() removes the guard and the bridge.
// Thread-safety: attach/detach/release from any thread (the Ipam serialises addresses; links
// are per sandbox).
#pragma once

#include <memory>
#include <set>
#include <string>

#include "kubelet-lite/network/ipam.h"
#include "kubelet-lite/network/pod_network.h"

namespace berth::kubelet::net {

// "bpod" + 10 hex digits of a hash of the node name (14 characters, under IFNAMSIZ).
std::string bridgeName(const std::string& node);
// "vpod" + 10 hex digits of a hash of (node, sandbox id).
std::string vethName(const std::string& node, const std::string& sandbox_id);
// A stable 64-bit FNV-1a hash as 16 hex digits (names of links, tables and chains).
std::string hashHex(const std::string& s);

class BridgeNetwork : public PodNetwork {
 public:
  struct Options {
    std::string node_name;
    std::string pod_cidr;   // the node's spec.podCIDR, e.g. 10.244.1.0/24
    std::string state_dir;  // <root>/<node>/network
  };
  // Creates (or adopts) the bridge and loads the address allocations.
  static Result<std::unique_ptr<BridgeNetwork>> start(const Options& opts);
  // The guard table's name for a node (empty when the node's namespace needs none).
  static std::string guardTable(const std::string& node);

  Result<std::string> attach(const PodNetworkAttachment& a) override;
  Status detach(const std::string& sandbox_id) override;
  Status release(const std::string& sandbox_id) override;

  // Frees addresses of sandboxes that no longer exist (after the runtime adopted its own).
  Status retainOnly(const std::set<std::string>& sandbox_ids) { return ipam_->retainOnly(sandbox_ids); }
  const std::string& bridge() const { return bridge_; }
  std::string gateway() const { return formatIpv4(ipam_->gateway()); }
  const Ipam& ipam() const { return *ipam_; }

  // Removes the guard table and the bridge (the agent's pods must be gone).
  Status teardown();

 private:
  BridgeNetwork(Options opts, std::unique_ptr<Ipam> ipam);
  Status ensureBridge();
  Status ensureGuard();

  Options opts_;
  std::unique_ptr<Ipam> ipam_;
  std::string bridge_;
  std::string guard_table_;  // empty when not needed
};

// True when this process's network namespace is one under /run/netns (made by the project's
// local cloud or tests), false in the host's own namespace.
bool inNamedNetns();

}  // namespace berth::kubelet::net
