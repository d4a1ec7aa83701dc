// Ipam: hands out the addresses of one node's pod CIDR to pod sandboxes, like CNI's host-local
// plugin. The network address, the first address (the bridge's gateway) and the broadcast
// address are never handed out. Allocations are keyed by an owner id (the sandbox id), so
// allocating twice for one owner returns the same address; they are persisted to one JSON file
// (written atomically on every change) and reloaded at construction, so a restarted agent keeps
// the addresses of the pods it adopts. Addresses are handed out round robin after the last one
// given, so a freed address is not reused at once (a stale conntrack entry or ARP cache of the
// previous pod does not reach the next one).
// Thread-safety: all methods may be called from any thread (one mutex).
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "common/status.h"
#include "kubelet-lite/network/ipv4.h"

namespace berth::kubelet::net {

class Ipam {
 public:
  // Loads `state_file` when it exists and belongs to the same CIDR (a different CIDR, e.g. the
  // node re-registered with a new range, starts empty).
  static Result<std::unique_ptr<Ipam>> open(const std::string& cidr, const std::string& state_file);

  const Ipv4Cidr& cidr() const { return cidr_; }
  uint32_t gateway() const { return cidr_.at(1); }

  // The owner's address, allocating a free one when it has none; kUnavailable when full.
  Result<uint32_t> allocate(const std::string& owner);
  // Frees the owner's address; a no-op when it has none.
  Status release(const std::string& owner);
  // Frees every allocation whose owner is not in `keep` (after adoption at start-up).
  Status retainOnly(const std::set<std::string>& keep);
  // owner -> address.
  std::map<std::string, uint32_t> allocations() const;

 private:
  Ipam(Ipv4Cidr cidr, std::string file) : cidr_(cidr), file_(std::move(file)) {}
  Status load();
  Status saveLocked() const;

  const Ipv4Cidr cidr_;
  const std::string file_;
  mutable std::mutex mu_;
  std::map<uint32_t, std::string> by_ip_;     // guarded by mu_
  std::map<std::string, uint32_t> by_owner_;  // guarded by mu_
  uint32_t last_ = 0;                         // guarded by mu_
};

}  // namespace berth::kubelet::net
