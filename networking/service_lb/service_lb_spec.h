// What the Service load-balancer controller asks of the cloud for one Service of type
// LoadBalancer, computed from cached objects only (no API calls): the balancer's name and its
// LoadBalancerSpec (one TCP listener per Service port, targeting InternalIP:nodePort of the
// eligible nodes, in the cluster's zones), plus the ports it refused and why.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "client/informer.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

inline constexpr char kLoadBalancerCleanupFinalizer[] = "service.kubernetes.io/load-balancer-cleanup";
inline constexpr char kExcludeFromLoadBalancersLabel[] =
    "node.kubernetes.io/exclude-from-external-load-balancers";
inline constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

// The balancer's name for Service ns/name: "<ns>-<name>" when that is at most 32 characters
// and `ns` has no '-' (then it names exactly one Service); otherwise a prefix of it followed by
// "-" and 8 hex digits of a hash of "ns/name", 32 characters at most. Stable across restarts.
std::string loadBalancerName(const std::string& ns, const std::string& name);

// True for a Service this controller serves: type LoadBalancer without spec.loadBalancerClass.
bool wantsLoadBalancer(const client::json& svc);

// A node that may carry traffic for `svc`'s balancer: Ready, not labelled
// exclude-from-external-load-balancers, not being deleted, with an InternalIP.
bool eligibleNode(const client::json& node);

struct BuiltSpec {
  cloud::LoadBalancerSpec spec;
  // One message per Service port the balancer does not carry, naming the port and why
  // (UDP/SCTP; no nodePort).
  std::vector<std::string> refused;
};

// The spec for `svc`. `nodes` are every cached Node, `slices` the Service's EndpointSlices (read
// only with externalTrafficPolicy Local: then only nodes hosting a ready endpoint are targets).
// `vpc_zones` are the zones of the VPC's public subnets; when empty the zones of the eligible
// nodes are used. Targets and zones are sorted, so equal inputs give equal specs.
BuiltSpec buildLoadBalancerSpec(const client::json& svc, const std::vector<client::ObjectPtr>& nodes,
                                const std::vector<client::ObjectPtr>& slices,
                                const std::vector<std::string>& vpc_zones);

// The listeners' ports and protocols and the zones, without targets: what changes only when
// the Service itself (or the VPC) changes.
std::string specShape(const cloud::LoadBalancerSpec& spec);
// Every target of every listener, for comparing two specs of one Service.
std::string specTargets(const cloud::LoadBalancerSpec& spec);

}  // namespace berth::networking
