// In-process network plumbing for pod sandboxes, without spawning `ip`: named network namespaces
// (as `ip netns add/delete` make them: a bind mount of the namespace on /run/netns/NAME) and the
// few rtnetlink requests a pod's veth needs. Each `ip` process cost 40-200 ms of a pod's startup on
// a loaded machine; these calls take microseconds.
//
// RouteNetlink is a NETLINK_ROUTE socket bound to the network namespace of the thread that opened
// it: every request acts on that namespace, whatever thread later sends it.
// Thread-safety: one RouteNetlink per thread at a time (requests and acks share the socket);
// the free functions are safe from any thread (they run their namespace work on a thread of
// their own).
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace berth::kubelet::nl {

class RouteNetlink {
 public:
  // A socket in the calling thread's network namespace.
  static Result<RouteNetlink> open();
  RouteNetlink(RouteNetlink&& o) noexcept : fd_(o.fd_), seq_(o.seq_) { o.fd_ = -1; }
  RouteNetlink& operator=(RouteNetlink&&) = delete;
  ~RouteNetlink();

  // The index of link `name` in this namespace; NotFound when there is none.
  Result<int> linkIndex(const std::string& name);
  // A veth pair: `name` here, `peer` moved into the namespace open as `peer_netns_fd`.
  Status addVeth(const std::string& name, const std::string& peer, int peer_netns_fd);
  Status setMaster(int index, int master_index);
  Status setUp(int index);
  // `bridge link set dev INDEX hairpin on`: the bridge port sends frames back out the port they
  // came in on (a pod reaching itself through its Service). Through netlink rather than sysfs,
  // whose /sys/class/net shows the namespace /sys was mounted in, not this socket's.
  Status setHairpin(int index);
  Status deleteLink(int index);
  // `ip addr add ADDR/PREFIX dev INDEX` (IPv4).
  Status addAddress(int index, const std::string& ipv4, int prefix);
  // `ip route replace default via GATEWAY dev INDEX` (IPv4).
  Status replaceDefaultRoute(const std::string& gateway, int index);

 private:
  explicit RouteNetlink(int fd) : fd_(fd) {}
  // Sends one request (header and payload in `msg`) with NLM_F_ACK and waits for its ack.
  Status transact(std::string& msg, const std::string& what);

  int fd_ = -1;
  uint32_t seq_ = 0;
};

// Creates the network namespace /run/netns/NAME (making /run/netns a shared mount point first,
// as iproute2 does) and brings its loopback up. AlreadyExists when it exists.
Status createNamedNetns(const std::string& name);
// Unmounts and removes /run/netns/NAME; OK when it does not exist.
Status deleteNamedNetns(const std::string& name);
// Runs `fn` on a short-lived thread that has joined the network namespace at `netns_path`
// (the caller's threads stay where they are).
Status runInNetns(const std::string& netns_path, const std::function<Status()>& fn);

}  // namespace berth::kubelet::nl
