// IPv4 addresses and CIDR blocks as plain integers: parsing, carving, containment and overlap
// (the VPC planner, the local network, the network kinds' validation).
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace berth {

// Parses a dotted quad ("10.0.0.1").
Result<uint32_t> parseIpv4(const std::string& s);
std::string formatIpv4(uint32_t addr);

struct Ipv4Cidr {
  uint32_t base = 0;  // network address (host bits zero)
  int prefix = 0;     // 0..32

  uint64_t size() const { return uint64_t{1} << (32 - prefix); }
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  uint32_t last() const { return base | ~mask(); }
  // The n-th address of the block (0 = the network address).
  uint32_t at(uint64_t n) const { return base + static_cast<uint32_t>(n); }
  bool contains(uint32_t addr) const { return (addr & mask()) == base; }
  bool contains(const Ipv4Cidr& o) const { return o.prefix >= prefix && contains(o.base); }
  bool overlaps(const Ipv4Cidr& o) const { return contains(o.base) || o.contains(base); }
  std::string toString() const;
};

// Parses "a.b.c.d/n". Refuses a missing prefix and set host bits ("10.0.0.1/16": "host bits
// set, did you mean 10.0.0.0/16"). Errors are plain messages; callers prefix the field.
Result<Ipv4Cidr> parseCidr(const std::string& s);

}  // namespace berth
