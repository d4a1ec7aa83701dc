// IPv4 addresses and CIDR blocks as plain integers, for the pod network and the service proxy.
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace berth::kubelet::net {

// Parses dotted-quad "10.244.1.7". Errors name the text.
Result<uint32_t> parseIpv4(const std::string& s);
std::string formatIpv4(uint32_t ip);

struct Ipv4Cidr {
  uint32_t network = 0;  // host bits zero
  int prefix = 0;        // 0..32

  // "10.244.1.0/24"; host bits must be zero.
  static Result<Ipv4Cidr> parse(const std::string& s);
  std::string toString() const;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  bool contains(uint32_t ip) const { return (ip & mask()) == network; }
  // The i-th address of the block (0 = the network address).
  uint32_t at(uint64_t i) const { return network + static_cast<uint32_t>(i); }
};

}  // namespace berth::kubelet::net
