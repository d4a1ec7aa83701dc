// The cloud driver interface: what the node-group controllers and `berth cluster` ask of a
// cloud, shaped after EC2 so that the local driver (network namespaces on this machine) and a
// later AWS driver are interchangeable.
//
// Instances (InstanceDriver): run, terminate, describe. A launch carries a client token (a
// second runInstance with the same token returns the instance of the first call instead of
// launching another, as EC2's ClientToken does), the instance type, zone, subnet, capacity type,
// user-data and tags. Everything a cluster owns carries the tag kTagCluster=<cluster name>, so
// describe-by-tag finds it after a restart and delete removes exactly one cluster's things.
//
// Network (NetworkDriver): the VPC of a cluster (subnets per zone, NAT gateways), load
// balancers for Services of type LoadBalancer, and routes for node pod CIDRs (what
// kube-controller-manager's route controller asks of a cloud).
//
// Errors: Status codes. A capacity shortage for a (type, zone, capacity type) pool is
// Code::kUnavailable with a message starting "InsufficientInstanceCapacity:" (see
// isInsufficientCapacity); an unknown instance type or zone is kInvalid; an unknown instance id
// kNotFound. Bad specs (overlapping CIDRs, a subnet outside the VPC, ...) are kInvalid naming
// the field, before anything is created.
//
// Thread-safety: every method may be called from any thread; implementations serialise what
// they must. Calls may block (creating namespaces, starting processes).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time_util.h"

namespace berth::cloud {

// Tags every driver puts on (and filters by) what a cluster owns.
inline constexpr char kTagCluster[] = "berth.dev/cluster";
inline constexpr char kTagNodeGroup[] = "berth.dev/nodegroup";
inline constexpr char kTagName[] = "Name";

enum class CapacityType { kOnDemand, kSpot };
// "on-demand" / "spot" (Karpenter's label values); parseCapacityType also takes ON_DEMAND/SPOT.
const char* toString(CapacityType c);
Result<CapacityType> parseCapacityType(const std::string& s);

// ---- instances ----

struct RunInstanceRequest {
  std::string client_token;   // idempotency key (required)
  std::string instance_type;  // e.g. "m5.large"
  std::string zone;           // e.g. "local-1a"
  std::string subnet_id;      // the subnet to place the instance in (in `zone`)
  CapacityType capacity_type = CapacityType::kOnDemand;
  std::string user_data;      // served at the instance's metadata endpoint
  std::map<std::string, std::string> tags;  // must include kTagCluster
};

enum class InstanceState { kPending, kRunning, kShuttingDown, kTerminated };
const char* toString(InstanceState s);  // "pending", "running", "shutting-down", "terminated"

struct Instance {
  std::string id;  // "i-" followed by 17 hex digits
  std::string instance_type;
  std::string zone;
  std::string subnet_id;
  std::string private_ip;
  CapacityType capacity_type = CapacityType::kOnDemand;
  InstanceState state = InstanceState::kPending;
  // Why the instance stopped, EC2's StateReason codes: "Client.UserInitiatedShutdown"
  // (terminated through the API), "Server.SpotInstanceTermination" (spot reclaimed),
  // "Server.InternalError" (the instance crashed).
  std::string state_reason;
  TimePoint launch_time{};
  std::map<std::string, std::string> tags;
  // Set once the cloud issued a spot interruption notice; the instance goes away at this time.
  std::optional<TimePoint> interruption_time;
  std::string region;

  // Node.spec.providerID: "<provider>:///<zone>/<id>" (aws:///us-west-2a/i-0123...).
  std::string providerId(const std::string& provider) const {
    return provider + ":///" + zone + "/" + id;
  }
};

bool isInsufficientCapacity(const Status& s);
Status insufficientCapacity(const std::string& instance_type, const std::string& zone,
                            CapacityType capacity_type);

class InstanceDriver {
 public:
  virtual ~InstanceDriver() = default;
  // Launches one instance (or returns the one already launched with req.client_token).
  virtual Result<Instance> runInstance(const RunInstanceRequest& req) = 0;
  // Starts terminating; idempotent (terminating a terminated instance is ok, an unknown id is
  // kNotFound).
  virtual Status terminateInstance(const std::string& id) = 0;
  // Every instance carrying all of `tags` (terminated ones stay visible for a while, as in EC2).
  virtual Result<std::vector<Instance>> describeInstances(
      const std::map<std::string, std::string>& tags) = 0;
};

// ---- network ----

enum class NatMode { kDisable, kSingle, kHighlyAvailable };
const char* toString(NatMode m);  // "Disable", "Single", "HighlyAvailable"
Result<NatMode> parseNatMode(const std::string& s);

struct SubnetSpec {
  std::string zone;
  std::string cidr;
  bool is_public = false;
};

struct NetworkSpec {
  std::string cluster;
  std::string region;
  std::string vpc_cidr;
  std::vector<std::string> zones;
  std::vector<SubnetSpec> subnets;  // one public and one private per zone, usually
  NatMode nat = NatMode::kSingle;
};

struct Subnet {
  std::string id;  // "subnet-" + hex
  std::string zone;
  std::string cidr;
  bool is_public = false;
  std::string gateway_ip;  // the VPC router's address in the subnet
};

struct NatGateway {
  std::string id;  // "nat-" + hex
  std::string zone;
  std::string subnet_id;   // a public subnet
  std::string public_ip;   // what the outside sees as the source of private nodes' traffic
  std::string private_ip;
  std::string state;       // "available", "pending", "deleted"
};

struct Vpc {
  std::string id;  // "vpc-" + hex
  std::string cluster;
  std::string cidr;
  std::string state;  // "available", "pending"
  std::vector<Subnet> subnets;
  std::vector<NatGateway> nat_gateways;
  // The host's address inside the VPC (like EKS's control-plane network interfaces): nodes
  // reach the API server and the registry endpoint there, the host reaches kubelets from it.
  std::string control_plane_ip;
};

struct LoadBalancerTarget {
  std::string ip;
  int port = 0;
  std::string zone;
};

struct LoadBalancerListener {
  int port = 0;               // the port clients connect to
  std::string protocol = "TCP";
  std::vector<LoadBalancerTarget> targets;  // node IP:nodePort (instance mode) or pod IP:port
};

struct LoadBalancerSpec {
  std::string name;  // unique in the cluster, e.g. "<namespace>-<service>"
  std::vector<LoadBalancerListener> listeners;
  std::vector<std::string> zones;  // public subnets of these zones carry the balancer
};

struct LoadBalancer {
  std::string name;
  std::string id;
  std::string address;  // reachable from the host (Service status.loadBalancer.ingress[].ip)
  std::string state;    // "active", "provisioning"
};

class NetworkDriver {
 public:
  virtual ~NetworkDriver() = default;
  // Creates what is missing of the VPC, finishes a half-made one; idempotent.
  virtual Result<Vpc> ensureNetwork(const NetworkSpec& spec) = 0;
  // kNotFound when the cluster has no network.
  virtual Result<Vpc> describeNetwork() = 0;
  // Removes everything of this cluster's network (instances must be gone first); idempotent.
  virtual Status deleteNetwork() = 0;
  virtual Result<LoadBalancer> ensureLoadBalancer(const LoadBalancerSpec& spec) = 0;
  virtual Status deleteLoadBalancer(const std::string& name) = 0;
  virtual Result<std::vector<LoadBalancer>> listLoadBalancers() = 0;
  // Routes `cidr` (a node's pod CIDR) to the instance, in every route table of the VPC.
  virtual Status ensureRoute(const std::string& cidr, const std::string& instance_id) = 0;
  virtual Status deleteRoute(const std::string& cidr) = 0;
  // The routes made by ensureRoute: CIDR -> instance id. Clouds that keep no record answer
  // kMethodNotAllowed (the route controller then cannot remove routes of nodes deleted while it
  // was down).
  virtual Result<std::map<std::string, std::string>> listRoutes() {
    return Status(Code::kMethodNotAllowed, "this cloud does not list routes");
  }
};

// A cloud for one cluster.
class CloudDriver {
 public:
  virtual ~CloudDriver() = default;
  virtual std::string provider() const = 0;  // "local", "aws": the providerID scheme
  virtual std::string region() const = 0;
  virtual InstanceDriver& instances() = 0;
  virtual NetworkDriver& network() = 0;
};

}  // namespace berth::cloud
