// Publishes what the cloud made for a cluster as berth.dev/v1alpha1 objects (VPC, Subnet,
// NATGateway, LoadBalancer; apiserver/kinds/kinds_network.cc) so `kubectl get vpcs,subnets,
// natgateways,loadbalancers` shows it. Each call creates what is missing and updates what
// differs (spec, then the status subresource); calling it again with the same input writes
// nothing. Objects carry the label berth.dev/cluster=<cluster>.
// Names: VPC <cluster>; Subnet <zone>-public|<zone>-private; NATGateway nat-<zone>;
// LoadBalancer the load balancer's name.
// Thread-safety: free functions; the client must be usable from the calling thread.
#pragma once

#include <string>

#include "client/client.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

extern const client::Resource kVpcResource;
extern const client::Resource kSubnetResource;
extern const client::Resource kNatGatewayResource;
extern const client::Resource kLoadBalancerResource;

// The VPC, its subnets and NAT gateways. `spec` supplies the region, zones and NAT mode.
Status publishNetwork(client::Client& c, const cloud::Vpc& vpc, const cloud::NetworkSpec& spec);

// One load balancer; `service` is "namespace/name" of the Service it serves ("" if none).
Status publishLoadBalancer(client::Client& c, const std::string& cluster, const cloud::LoadBalancer& lb,
                           const cloud::LoadBalancerSpec& spec, const std::string& service);
// Removes the LoadBalancer object; ok when it does not exist.
Status unpublishLoadBalancer(client::Client& c, const std::string& name);

}  // namespace berth::networking
