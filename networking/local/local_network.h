// LocalNetwork: the local cloud's network (cloud::NetworkDriver) on this machine's kernel, run
// as root. One cluster per instance of this class; everything it makes is named after the
// cluster (network namespaces "berth-<cluster>-...", links with a short per-cluster prefix),
// recorded under <state_dir>/network.json, and found again by name when that file is lost,
// so delete removes exactly one cluster and a create that crashed half-way is finished by the
// next ensureNetwork or removed by deleteNetwork.
//
// Layout: a router namespace per VPC (the VPC router and internet gateway) holding one bridge
// per subnet (gateway = the subnet's first address), route tables per subnet (public -> the
// internet namespace, private -> the zone's or the single NAT gateway), NAT gateways as
// namespaces with nftables masquerade to a public address, an "internet" namespace standing for
// the outside world, a host leg into the VPC (Vpc::control_plane_ip, like EKS's control-plane
// network interfaces) and a host leg into the internet namespace (to reach load balancers).
// A rule on the host drops anything forwarded from the cloud's links to any other interface:
// no packet of the local cloud leaves the machine.
//
// Instances: the local instance driver asks attachInstance() for a network namespace wired
// into a subnet; the instance metadata endpoint address (169.254.169.254) is configured inside.
//
// Thread-safety: all methods may be called from any thread (serialised internally).
#pragma once

#include <memory>
#include <string>

#include "nodegroups/cloud/cloud_driver.h"

namespace berth::networking {

class LocalNetwork : public cloud::NetworkDriver {
 public:
  struct Options {
    std::string cluster;    // [a-z0-9-], <= 20 characters
    std::string state_dir;  // e.g. /var/lib/berth/clusters/<cluster>/cloud
    // The `berth` executable that runs helper daemons (the internet namespace's echo server);
    // empty: this process's own executable.
    std::string berth_binary;
  };
  static Result<std::unique_ptr<LocalNetwork>> open(const Options& opts);

  // Creates (or finds) the namespace of `instance_id`, with a veth into the bridge of
  // `subnet_id`, a free address of the subnet, a default route via the subnet's gateway, lo up
  // and 169.254.169.254/32 on lo. Fills *netns with the namespace name ("berth-<cluster>-<id>",
  // usable with `ip netns exec` and setns via /run/netns/<name>). Returns the private IP.
  // Idempotent for the same instance.
  virtual Result<std::string> attachInstance(const std::string& instance_id,
                                             const std::string& subnet_id, std::string* netns) = 0;
  // Removes the namespace and its link and frees the address; idempotent.
  virtual Status detachInstance(const std::string& instance_id) = 0;
};

// Whether `cluster` may lay out a VPC of `vpc_cidr` on this machine, checked before anything is
// created (touches nothing): the local cloud's reserved ranges and every host route are checked
// for overlap, except this cluster's own VPC leg (so a create that finds its network in place
// passes). Two local clusters cannot share VPC addresses: the host (its berth servers, the
// registry endpoint) reaches each VPC by destination address. The error names `vpc.cidr`, the
// cluster whose VPC leg routes the overlapping range (from the leg's alias) and a CIDR that is
// free now.
Status checkVpcCidrFree(const std::string& cluster, const std::string& vpc_cidr);

}  // namespace berth::networking
