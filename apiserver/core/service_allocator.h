// Allocates Service cluster IPs from the service CIDR and node ports from their range.
// State is rebuilt from the Services in the watch cache at start-up; allocations are
// released when a Service is deleted or its type changes.
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace berth::apiserver {

class ServiceAllocator {
 public:
  static Result<std::unique_ptr<ServiceAllocator>> create(const std::string& cidr,
                                                          const std::string& port_range);
  // The first address of the range (10.96.0.1): the `kubernetes` Service's.
  std::string firstAddress() const;
  // The tenth address (10.96.0.10): the cluster DNS Service's, kube-system/kube-dns.
  std::string dnsAddress() const;

  // Fills spec.clusterIP(s) and nodePorts of a Service being created; validates requested ones.
  // A requested IP or port that cannot be had is a kInvalid Status with one Cause naming the
  // field as upstream does (spec.clusterIPs, spec.ports[i].nodePort).
  Status allocate(nlohmann::json& svc);
  // On update: keeps old allocations, allocates new ones (type changed to NodePort...), and
  // releases those no longer used.
  Status reallocate(nlohmann::json& svc, const nlohmann::json& old);
  void release(const nlohmann::json& svc);
  // Marks what an existing Service holds (start-up).
  void restore(const nlohmann::json& svc);

 private:
  ServiceAllocator(uint32_t base, uint32_t size, int port_lo, int port_hi)
      : base_(base), size_(size), port_lo_(port_lo), port_hi_(port_hi) {}
  Result<std::string> allocateIp(const std::string& requested);
  Result<int> allocatePort(int requested, size_t index);  // index: of spec.ports, for errors
  std::mutex mu_;
  uint32_t base_, size_;
  int port_lo_, port_hi_;
  std::set<uint32_t> ips_;
  std::set<int> ports_;
  uint32_t next_ip_ = 10;
  int next_port_ = 0;
};

// upstream's dropTypeDependentFields, for an update of `svc` from `old`: fields a type change
// leaves without use go when the user left them as they were (cluster IPs and IP families on
// the way to ExternalName; node ports and externalTrafficPolicy on the way to a type without
// node ports; a load balancer's own fields and status on the way from LoadBalancer).
void dropTypeDependentFields(nlohmann::json& svc, const nlohmann::json& old);

}  // namespace berth::apiserver
