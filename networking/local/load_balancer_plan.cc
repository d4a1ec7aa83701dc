#include "networking/local/load_balancer_plan.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

#include "common/ipv4.h"
#include "common/strings.h"

namespace berth::networking {

namespace {

Status checkPort(int port, const std::string& field) {
  if (port < 1 || port > 65535)
    return invalid(field + ": port " + std::to_string(port) + " is outside 1-65535");
  return Status::ok();
}

std::string upper(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool targetLess(const cloud::LoadBalancerTarget& a, const cloud::LoadBalancerTarget& b) {
  auto ia = parseIpv4(a.ip), ib = parseIpv4(b.ip);
  uint32_t va = ia.isOk() ? *ia : 0, vb = ib.isOk() ? *ib : 0;
  if (va != vb) return va < vb;
  return a.port < b.port;
}

}  // namespace

Status validateLoadBalancerSpec(const cloud::LoadBalancerSpec& spec) {
  static const std::regex kName("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$");
  if (!std::regex_match(spec.name, kName))
    return invalid("spec.name: \"" + spec.name +
                   "\" must be 1-253 characters of [a-z0-9.-], starting and ending alphanumeric");
  if (spec.listeners.empty()) return invalid("spec.listeners: a load balancer needs at least one listener");
  std::set<int> ports;
  for (size_t i = 0; i < spec.listeners.size(); ++i) {
    const cloud::LoadBalancerListener& l = spec.listeners[i];
    std::string field = "spec.listeners[" + std::to_string(i) + "]";
    BERTH_RETURN_IF_ERROR(checkPort(l.port, field + ".port"));
    if (!ports.insert(l.port).second)
      return invalid(field + ".port: port " + std::to_string(l.port) + " has more than one listener");
    if (upper(l.protocol) != "TCP")
      return invalid(field + ".protocol: \"" + l.protocol + "\" is not supported (the local load balancer proxies TCP only)");
    for (size_t j = 0; j < l.targets.size(); ++j) {
      const cloud::LoadBalancerTarget& t = l.targets[j];
      std::string tf = field + ".targets[" + std::to_string(j) + "]";
      if (!parseIpv4(t.ip).isOk()) return invalid(tf + ".ip: \"" + t.ip + "\" is not an IPv4 address");
      BERTH_RETURN_IF_ERROR(checkPort(t.port, tf + ".port"));
    }
  }
  for (size_t i = 0; i < spec.zones.size(); ++i)
    if (spec.zones[i].empty()) return invalid("spec.zones[" + std::to_string(i) + "]: empty zone name");
  return Status::ok();
}

cloud::LoadBalancerSpec normalizeLoadBalancerSpec(const cloud::LoadBalancerSpec& spec,
                                                  const std::vector<std::string>& all_zones) {
  cloud::LoadBalancerSpec out;
  out.name = spec.name;
  out.listeners = spec.listeners;
  std::sort(out.listeners.begin(), out.listeners.end(),
            [](const auto& a, const auto& b) { return a.port < b.port; });
  for (cloud::LoadBalancerListener& l : out.listeners) {
    l.protocol = upper(l.protocol);
    std::sort(l.targets.begin(), l.targets.end(), targetLess);
    l.targets.erase(std::unique(l.targets.begin(), l.targets.end(),
                                [](const auto& a, const auto& b) { return a.ip == b.ip && a.port == b.port; }),
                    l.targets.end());
  }
  std::set<std::string> zones(spec.zones.begin(), spec.zones.end());
  if (zones.empty()) zones.insert(all_zones.begin(), all_zones.end());
  out.zones.assign(zones.begin(), zones.end());
  return out;
}

bool sameLoadBalancerSpec(const cloud::LoadBalancerSpec& a, const cloud::LoadBalancerSpec& b) {
  if (a.name != b.name || a.zones != b.zones || a.listeners.size() != b.listeners.size()) return false;
  for (size_t i = 0; i < a.listeners.size(); ++i) {
    const auto &la = a.listeners[i], &lb = b.listeners[i];
    if (la.port != lb.port || la.protocol != lb.protocol || la.targets.size() != lb.targets.size()) return false;
    for (size_t j = 0; j < la.targets.size(); ++j)
      if (la.targets[j].ip != lb.targets[j].ip || la.targets[j].port != lb.targets[j].port ||
          la.targets[j].zone != lb.targets[j].zone)
        return false;
  }
  return true;
}

Result<std::string> pickLoadBalancerAddress(const std::string& public_block, const std::set<std::string>& taken) {
  auto block = parseCidr(public_block);
  if (!block.isOk()) return invalid("public block: " + block.status().message());
  if (block->prefix != 24) return invalid("public block " + public_block + " is not a /24");
  for (int off = kLbFirstOffset; off <= kLbLastOffset; ++off) {
    std::string a = formatIpv4(block->at(off));
    if (!taken.count(a)) return a;
  }
  return Status(Code::kUnavailable, "no public address left for a load balancer in " + public_block);
}

std::string renderHaproxyConfig(const cloud::LoadBalancerSpec& spec, const std::string& id,
                                const std::string& address) {
  std::ostringstream c;
  c << "# Written by berth: load balancer " << spec.name << " (" << id << ").\n"
    << "# Reloaded with SIGUSR2 to the master process; do not edit.\n"
    << "global\n"
    // maxconn is left to haproxy, which derives it from the file-descriptor limit.
    // Workers of an older configuration finish their connections, but not forever.
    << "  hard-stop-after 30s\n"
    << "defaults\n"
    << "  mode tcp\n"
    << "  timeout connect 1s\n"
    << "  timeout client 350s\n"
    << "  timeout server 350s\n"
    << "  timeout check 1s\n"
    << "  retries 2\n"
    << "  option redispatch 1\n"
    << "  default-server inter 1s fastinter 250ms downinter 1s fall 2 rise 2\n";
  for (const cloud::LoadBalancerListener& l : spec.listeners) {
    std::string port = std::to_string(l.port);
    c << "frontend listener-" << port << "\n"
      << "  bind " << address << ":" << port << "\n"
      << "  default_backend targets-" << port << "\n"
      << "backend targets-" << port << "\n"
      << "  balance roundrobin\n";
    for (const cloud::LoadBalancerTarget& t : l.targets) {
      std::string ep = t.ip + ":" + std::to_string(t.port);
      c << "  server " << ep << " " << ep << " check\n";
    }
  }
  return c.str();
}

}  // namespace berth::networking
