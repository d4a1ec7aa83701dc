// PodNetwork: what a container runtime asks of the node's pod network when it makes and tears
// down a pod sandbox (the CNI ADD/DEL of kubelet-lite). The runtime creates the sandbox's network
// namespace; the network wires an interface into it and hands out the pod's address.
// Thread-safety: implementations allow calls from any thread, for different sandboxes at once.
#pragma once

#include <string>

#include "common/status.h"

namespace berth::kubelet {

struct PodNetworkAttachment {
  std::string sandbox_id;  // stable across agent restarts; keys the address
  std::string netns;       // the namespace's name under /run/netns
  std::string pod;         // "ns/name", for logs
  bool fresh = false;      // the namespace was just created: nothing of an earlier attempt is in it
};

class PodNetwork {
 public:
  virtual ~PodNetwork() = default;
  // Brings up the sandbox's loopback and gives it its interface (eth0), address and default
  // route; returns the address.
  // Idempotent: a second call for the same sandbox returns the same address and rewires.
  virtual Result<std::string> attach(const PodNetworkAttachment& a) = 0;
  // Removes the sandbox's interface; the address stays reserved until release(). Idempotent.
  virtual Status detach(const std::string& sandbox_id) = 0;
  // Frees the sandbox's address. Idempotent.
  virtual Status release(const std::string& sandbox_id) = 0;
};

}  // namespace berth::kubelet
