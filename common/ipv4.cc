#include "common/ipv4.h"

#include <charconv>

#include "common/strings.h"

namespace berth {

namespace {

bool parseUint(std::string_view s, unsigned max, unsigned* out) {
  if (s.empty() || s.size() > 3) return false;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  if (s.size() > 1 && s[0] == '0') return false;  // no octal-looking octets
  *out = v;
  return true;
}

}  // namespace

Result<uint32_t> parseIpv4(const std::string& s) {
  std::vector<std::string> parts = split(s, '.');
  if (parts.size() != 4) return invalid("\"" + s + "\" is not an IPv4 address");
  uint32_t addr = 0;
  for (const std::string& p : parts) {
    unsigned v = 0;
    if (!parseUint(p, 255, &v)) return invalid("\"" + s + "\" is not an IPv4 address");
    addr = (addr << 8) | v;
  }
  return addr;
}

std::string formatIpv4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::string Ipv4Cidr::toString() const { return formatIpv4(base) + "/" + std::to_string(prefix); }

Result<Ipv4Cidr> parseCidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos)
    return invalid("\"" + s + "\" is not a CIDR block (want address/prefix, e.g. 10.0.0.0/16)");
  auto addr = parseIpv4(s.substr(0, slash));
  unsigned prefix = 0;
  if (!addr.isOk() || !parseUint(std::string_view(s).substr(slash + 1), 32, &prefix))
    return invalid("\"" + s + "\" is not a CIDR block (want address/prefix, e.g. 10.0.0.0/16)");
  Ipv4Cidr c;
  c.prefix = static_cast<int>(prefix);
  c.base = *addr & c.mask();
  if (c.base != *addr)
    return invalid("\"" + s + "\" has host bits set (did you mean " + c.toString() + "?)");
  return c;
}

}  // namespace berth
