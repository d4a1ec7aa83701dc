#include "kubelet-lite/network/ipv4.h"

#include <arpa/inet.h>

namespace berth::kubelet::net {

Result<uint32_t> parseIpv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return invalid("not an IPv4 address: \"" + s + "\"");
  return ntohl(a.s_addr);
}

std::string formatIpv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

Result<Ipv4Cidr> Ipv4Cidr::parse(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return invalid("not a CIDR (want a.b.c.d/n): \"" + s + "\"");
  auto ip = parseIpv4(s.substr(0, slash));
  if (!ip.isOk()) return invalid("not a CIDR: \"" + s + "\": " + ip.status().message());
  std::string p = s.substr(slash + 1);
  if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(p) > 32)
    return invalid("bad prefix length in \"" + s + "\"");
  Ipv4Cidr c;
  c.prefix = std::stoi(p);
  if ((*ip & c.mask()) != *ip) return invalid("\"" + s + "\" has host bits set");
  c.network = *ip;
  return c;
}

std::string Ipv4Cidr::toString() const { return formatIpv4(network) + "/" + std::to_string(prefix); }

}  // namespace berth::kubelet::net
