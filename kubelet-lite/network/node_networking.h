// NodeNetworking: everything the agent runs for the network of its node, started once the node
// is registered (its spec.podCIDR is known) and stopped with the agent:
//   - the pod network (BridgeNetwork) handed to the runtime (runc only: the process runtime's
//     pods live in the host's namespace);
//   - the Service proxy in nftables (ServiceProxy, --proxy-mode nftables), which leaves the
//     cluster DNS address alone;
//   - the cluster DNS server (ClusterDns, dnsmasq) on the cluster DNS address (with the pod
//     network, when a cluster DNS address is known).
// The proxy and the DNS share one stripped informer each on Services and EndpointSlices.
// Thread-safety: start/stop from one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "kubelet-lite/network/bridge_network.h"
#include "kubelet-lite/network/cluster_dns.h"
#include "kubelet-lite/network/service_proxy.h"
#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::net {

class NodeNetworking {
 public:
  struct Options {
    std::string node_name;
    std::string pod_cidr;
    std::string state_dir;      // <root>/<node>/network
    bool pod_network = false;   // wire pods into a bridge (runc)
    bool proxy = false;         // run the nftables Service proxy
    std::string cluster_dns;    // the cluster DNS address (may be empty: no DNS server)
    std::string cluster_domain = "cluster.local";
  };
  static Result<std::unique_ptr<NodeNetworking>> start(client::Client* client,
                                                       ContainerRuntime* runtime, Options opts);
  ~NodeNetworking();
  void stop();

  BridgeNetwork* podNetwork() { return bridge_.get(); }
  ServiceProxy* proxy() { return proxy_.get(); }

 private:
  NodeNetworking() = default;
  std::unique_ptr<BridgeNetwork> bridge_;
  ServiceInformers informers_;
  std::unique_ptr<ServiceProxy> proxy_;
  std::unique_ptr<ClusterDns> dns_;
};

// The cluster DNS address: `flag` when set, else kube-system/kube-dns's clusterIP, else "".
std::string resolveClusterDns(client::Client* client, const std::string& flag);

}  // namespace berth::kubelet::net
