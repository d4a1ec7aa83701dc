// The pure half of the local cloud's load balancers: what a LoadBalancerSpec must look like,
// its normal form (so "the same spec" means the same balancer), the public address a new
// balancer gets, and the HAProxy configuration it runs (mode tcp, one frontend per listener,
// one backend of health-checked targets per listener).
//
// Health checks: a TCP connect every second per target; after a failure the next checks come
// every 250 ms, and two failures in a row take the target out (a dead target leaves within
// about 3 s, the connect timeout being 1 s); two successes bring it back. A connection whose
// target fails to connect is retried on another target (option redispatch), so clients do not
// see the window before the checks notice.
//
// Thread-safety: pure functions.
#pragma once

#include <set>
#include <string>

#include "common/status.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

// Offsets in the cluster's public /24: load balancers take .64 up to .254.
inline constexpr int kLbFirstOffset = 64;
inline constexpr int kLbLastOffset = 254;

// Checks a spec: name (1-253 characters of [a-z0-9.-], alphanumeric at both ends), at least
// one listener, listener ports 1-65535 and unique, protocol TCP (the local balancer is a TCP
// proxy: "UDP" is refused by name), target addresses dotted quads with ports 1-65535. Errors
// name the field ("spec.listeners[1].port").
Status validateLoadBalancerSpec(const cloud::LoadBalancerSpec& spec);

// The spec in normal form: listeners sorted by port, protocol upper-case, targets sorted by
// (ip, port) without duplicates, zones sorted and unique. `all_zones` replaces an empty zone
// list (the zones that have a public subnet).
cloud::LoadBalancerSpec normalizeLoadBalancerSpec(const cloud::LoadBalancerSpec& spec,
                                                  const std::vector<std::string>& all_zones);

bool sameLoadBalancerSpec(const cloud::LoadBalancerSpec& a, const cloud::LoadBalancerSpec& b);

// The first address of `public_block` (a /24) from offset kLbFirstOffset to kLbLastOffset that
// is not in `taken`; kUnavailable when all are.
Result<std::string> pickLoadBalancerAddress(const std::string& public_block,
                                            const std::set<std::string>& taken);

// The HAProxy configuration of a (normalised) spec whose frontends bind `address`.
std::string renderHaproxyConfig(const cloud::LoadBalancerSpec& spec, const std::string& id,
                                const std::string& address);

}  // namespace berth::networking
