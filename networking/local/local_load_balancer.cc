// Load balancers: one HAProxy per cluster in the load-balancer namespace.
#include "networking/local/local_network_impl.h"

namespace berth::networking {

Result<cloud::LoadBalancer> LocalNetworkImpl::ensureLoadBalancer(const cloud::LoadBalancerSpec& spec) {
  return Status(Code::kUnavailable, "load balancers are not available in the local network yet");
}

Status LocalNetworkImpl::deleteLoadBalancer(const std::string& name) { return Status::ok(); }

Result<std::vector<cloud::LoadBalancer>> LocalNetworkImpl::listLoadBalancers() {
  return std::vector<cloud::LoadBalancer>{};
}

}  // namespace berth::networking
