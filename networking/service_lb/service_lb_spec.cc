#include "networking/service_lb/service_lb_spec.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <set>

namespace berth::networking {

using client::json;

namespace {

constexpr size_t kMaxNameLength = 32;  // as AWS load balancer names

const json& field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string str(const json& obj, const char* key) {
  const json& v = field(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

int num(const json& obj, const char* key) {
  const json& v = field(obj, key);
  return v.is_number_integer() ? v.get<int>() : 0;
}

std::string hash8(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 8);
}

std::string internalIp(const json& node) {
  const json& addrs = field(field(node, "status"), "addresses");
  if (!addrs.is_array()) return "";
  for (const json& a : addrs)
    if (str(a, "type") == "InternalIP" && !str(a, "address").empty()) return str(a, "address");
  return "";
}

std::string zoneOf(const json& node) { return str(field(field(node, "metadata"), "labels"), kZoneLabel); }

// Nodes hosting a ready endpoint of the Service (endpoints without conditions.ready count as
// ready, as upstream).
std::set<std::string> nodesWithReadyEndpoints(const std::vector<client::ObjectPtr>& slices) {
  std::set<std::string> out;
  for (const auto& s : slices) {
    const json& eps = field(*s, "endpoints");
    if (!eps.is_array()) continue;
    for (const json& ep : eps) {
      const json& ready = field(field(ep, "conditions"), "ready");
      if (ready.is_boolean() && !ready.get<bool>()) continue;
      if (!str(ep, "nodeName").empty()) out.insert(str(ep, "nodeName"));
    }
  }
  return out;
}

std::string portLabel(const json& port) {
  std::string name = str(port, "name");
  std::string proto = str(port, "protocol").empty() ? "TCP" : str(port, "protocol");
  std::string s = std::to_string(num(port, "port")) + "/" + proto;
  return name.empty() ? s : "\"" + name + "\" (" + s + ")";
}

}  // namespace

std::string loadBalancerName(const std::string& ns, const std::string& name) {
  std::string base = ns + "-" + name;
  if (base.size() <= kMaxNameLength && ns.find('-') == std::string::npos) return base;
  std::string prefix = base.substr(0, kMaxNameLength - 9);
  while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
  return prefix + "-" + hash8(ns + "/" + name);
}

bool wantsLoadBalancer(const json& svc) {
  const json& spec = field(svc, "spec");
  return str(spec, "type") == "LoadBalancer" && str(spec, "loadBalancerClass").empty();
}

bool eligibleNode(const json& node) {
  const json& md = field(node, "metadata");
  if (field(md, "labels").is_object() && field(md, "labels").contains(kExcludeFromLoadBalancersLabel)) return false;
  if (!field(md, "deletionTimestamp").is_null()) return false;
  if (internalIp(node).empty()) return false;
  const json& conds = field(field(node, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const json& c : conds)
    if (str(c, "type") == "Ready") return str(c, "status") == "True";
  return false;
}

BuiltSpec buildLoadBalancerSpec(const json& svc, const std::vector<client::ObjectPtr>& nodes,
                                const std::vector<client::ObjectPtr>& slices,
                                const std::vector<std::string>& vpc_zones) {
  BuiltSpec out;
  const json& md = field(svc, "metadata");
  const json& spec = field(svc, "spec");
  out.spec.name = loadBalancerName(str(md, "namespace"), str(md, "name"));

  bool local = str(spec, "externalTrafficPolicy") == "Local";
  std::set<std::string> with_endpoints;
  if (local) with_endpoints = nodesWithReadyEndpoints(slices);
  std::vector<cloud::LoadBalancerTarget> hosts;  // port filled per listener
  std::set<std::string> node_zones;
  for (const auto& n : nodes) {
    if (!eligibleNode(*n)) continue;
    if (local && !with_endpoints.count(str(field(*n, "metadata"), "name"))) continue;
    hosts.push_back({internalIp(*n), 0, zoneOf(*n)});
    if (!zoneOf(*n).empty()) node_zones.insert(zoneOf(*n));
  }
  std::sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) {
    return std::tie(a.zone, a.ip) < std::tie(b.zone, b.ip);
  });

  const json& ports = field(spec, "ports");
  for (const json& p : ports.is_array() ? ports : json::array()) {
    std::string proto = str(p, "protocol").empty() ? "TCP" : str(p, "protocol");
    if (proto != "TCP") {
      out.refused.push_back("port " + portLabel(p) + " is not served by the load balancer: only TCP is supported");
      continue;
    }
    int node_port = num(p, "nodePort");
    if (node_port <= 0) {
      out.refused.push_back("port " + portLabel(p) +
                            " is not served by the load balancer: it has no nodePort (allocateLoadBalancerNodePorts is false)");
      continue;
    }
    cloud::LoadBalancerListener l;
    l.port = num(p, "port");
    l.protocol = "TCP";
    for (cloud::LoadBalancerTarget t : hosts) {
      t.port = node_port;
      l.targets.push_back(t);
    }
    out.spec.listeners.push_back(std::move(l));
  }
  std::sort(out.spec.listeners.begin(), out.spec.listeners.end(),
            [](const auto& a, const auto& b) { return a.port < b.port; });

  std::set<std::string> zones(vpc_zones.begin(), vpc_zones.end());
  if (zones.empty()) zones = node_zones;
  out.spec.zones.assign(zones.begin(), zones.end());
  return out;
}

std::string specShape(const cloud::LoadBalancerSpec& spec) {
  std::string s = spec.name + "|";
  for (const auto& l : spec.listeners) s += std::to_string(l.port) + "/" + l.protocol + ",";
  s += "|";
  for (const auto& z : spec.zones) s += z + ",";
  return s;
}

std::string specTargets(const cloud::LoadBalancerSpec& spec) {
  std::string s;
  for (const auto& l : spec.listeners) {
    s += std::to_string(l.port) + ":";
    for (const auto& t : l.targets) s += t.ip + ":" + std::to_string(t.port) + "@" + t.zone + ",";
    s += ";";
  }
  return s;
}

}  // namespace berth::networking
