// Lays out a cluster's VPC from the `vpc` section of an eksctl ClusterConfig, as eksctl does:
// CIDR default 192.168.0.0/16 (prefix /16../24); when subnets are not given, 2 x zones subnets
// carved from the VPC CIDR (up to 8 subnets: blocks of prefix+3; up to 16: prefix+4; more is
// refused), public subnets first, private after (3 zones of a /16: public .0/.32/.64 /19,
// private .96/.128/.160 /19). NAT gateway mode default Single.
//
// Every check runs before anything is created; an error names the field, e.g.
// "vpc.cidr", "vpc.subnets.private.local-1a.cidr", "vpc.nat.gateway", "availabilityZones".
// Checked: CIDR syntax and host bits, prefix range, subnets inside the VPC, subnets that overlap
// each other, a subnet for a zone not in availabilityZones, too many zones for the CIDR,
// unknown NAT mode, fewer than 1 zone.
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

struct VpcConfig {
  std::string cidr;         // empty: 192.168.0.0/16
  std::string nat_gateway;  // empty: Single
  std::map<std::string, std::string> public_subnets;   // zone -> CIDR (empty map: carve)
  std::map<std::string, std::string> private_subnets;  // zone -> CIDR
};

Result<cloud::NetworkSpec> planNetwork(const std::string& cluster, const std::string& region,
                                       const std::vector<std::string>& zones,
                                       const VpcConfig& vpc);

}  // namespace berth::networking
