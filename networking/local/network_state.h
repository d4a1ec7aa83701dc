// What LocalNetwork has made for one cluster, recorded in <state_dir>/network.json before the
// kernel objects are created (so a crash leaves names the next call can finish or remove).
// Thread-safety: plain values; LocalNetwork serialises access (and locks the file).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

struct SubnetState {
  cloud::Subnet subnet;
  std::string bridge;  // in the router namespace
  int table = 0;       // policy-routing table of a private subnet (0: public, main table)
  std::string nat_id;  // private subnets: the NAT gateway their default route goes to
};

struct NatState {
  cloud::NatGateway nat;
  std::string netns;
  std::string router_link;  // its veth end in the router namespace (bridge port)
};

struct InstanceState {
  std::string subnet_id;
  std::string ip;
  std::string netns;
  std::string router_link;
};

// A load balancer's leg: a veth from its namespace into the public subnet of one zone.
struct LbLegState {
  std::string zone;
  std::string subnet_id;
  std::string ip;
  std::string router_link;  // bridge port in the router namespace
  std::string inner_link;   // in the load-balancer namespace
};

struct LoadBalancerState {
  cloud::LoadBalancer lb;        // lb.address: its public address
  cloud::LoadBalancerSpec spec;  // normalised; the spec HAProxy last loaded
  std::string netns;             // berth-<cluster>-lb-<8 hex of the id>
  std::vector<LbLegState> legs;  // one per zone of the spec
  int haproxy_pid = 0;           // the master
};

struct NetworkState {
  std::string cluster;
  std::string prefix;        // short per-cluster prefix of every link name
  std::string public_block;  // a /24 of 198.18.0.0/15 holding NAT and load-balancer addresses
  std::optional<cloud::NetworkSpec> spec;
  cloud::Vpc vpc;
  std::vector<SubnetState> subnets;
  std::vector<NatState> nats;
  std::string control_plane_subnet;
  std::map<std::string, InstanceState> instances;  // by instance id
  std::map<std::string, std::string> routes;       // pod CIDR -> instance id
  std::map<std::string, LoadBalancerState> load_balancers;  // by name
  int next_link = 0;
  int echo_pid = 0;

  const SubnetState* findSubnet(const std::string& id) const;
  // Every address handed out (gateways excluded), for the allocator.
  std::vector<std::string> usedAddresses() const;
};

std::string toJson(const NetworkState& s);
Result<NetworkState> networkStateFromJson(const std::string& text);

}  // namespace berth::networking
