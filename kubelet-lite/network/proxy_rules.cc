#include "kubelet-lite/network/proxy_rules.h"

#include <algorithm>
#include <sstream>

#include "common/strings.h"
#include "kubelet-lite/network/bridge_network.h"

namespace berth::kubelet::net {

using json = nlohmann::json;

namespace {

constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kMasqMark[] = "0x4000";

std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

int num(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int>() : 0;
}

const json& field(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string protoOf(const json& port) {
  std::string p = toLower(str(port, "protocol"));
  return p.empty() ? "tcp" : p;
}

bool isIpv4(const std::string& s) { return parseIpv4(s).isOk(); }

// Ready endpoints of (ns, service) for a port (name, protocol), from every slice of the service.
std::vector<ProxyEndpoint> endpointsFor(const std::vector<const json*>& slices,
                                        const std::string& port_name, const std::string& proto) {
  std::set<ProxyEndpoint> out;
  for (const json* s : slices) {
    if (str(*s, "addressType") != "IPv4") continue;
    int target = 0;
    for (const auto& p : field(*s, "ports").is_array() ? field(*s, "ports") : json::array())
      if (str(p, "name") == port_name && protoOf(p) == proto) target = num(p, "port");
    if (target <= 0) continue;
    for (const auto& ep : field(*s, "endpoints").is_array() ? field(*s, "endpoints") : json::array()) {
      const json& ready = field(field(ep, "conditions"), "ready");
      if (ready.is_boolean() && !ready.get<bool>()) continue;
      for (const auto& a : field(ep, "addresses").is_array() ? field(ep, "addresses") : json::array())
        if (a.is_string() && isIpv4(a.get<std::string>())) out.insert({a.get<std::string>(), target});
    }
  }
  return {out.begin(), out.end()};
}

std::string chainId(const ProxyServicePort& p) {
  return hashHex(p.ns + "/" + p.name + "/" + p.port_name + "/" + p.protocol).substr(0, 12);
}
std::string epId(const ProxyServicePort& p, const ProxyEndpoint& e) {
  return hashHex(chainId(p) + "/" + e.ip + ":" + std::to_string(e.port)).substr(0, 12);
}

void renderElements(std::ostringstream& o, const std::vector<std::string>& elems) {
  if (elems.empty()) return;
  o << "    elements = { ";
  for (size_t i = 0; i < elems.size(); ++i) o << (i ? ",\n                 " : "") << elems[i];
  o << " }\n";
}

void renderServiceChains(std::ostringstream& o, const ProxyServicePort& p) {
  std::string id = chainId(p);
  o << "  chain svc_" << id << " {\n    comment \"" << p.ns << "/" << p.name
    << (p.port_name.empty() ? "" : ":" + p.port_name) << "\"\n";
  if (p.affinity_timeout_seconds > 0)
    for (const auto& e : p.endpoints)
      o << "    ip saddr @aff_" << epId(p, e) << " goto ep_" << epId(p, e) << "\n";
  o << "    numgen random mod " << p.endpoints.size() << " vmap { ";
  for (size_t i = 0; i < p.endpoints.size(); ++i)
    o << (i ? ", " : "") << i << " : goto ep_" << epId(p, p.endpoints[i]);
  o << " }\n  }\n";
  for (const auto& e : p.endpoints) {
    std::string eid = epId(p, e);
    if (p.affinity_timeout_seconds > 0)
      o << "  set aff_" << eid << " {\n    type ipv4_addr; flags dynamic,timeout; timeout "
        << p.affinity_timeout_seconds << "s\n  }\n";
    o << "  chain ep_" << eid << " {\n";
    if (p.affinity_timeout_seconds > 0) o << "    update @aff_" << eid << " { ip saddr }\n";
    o << "    ip saddr " << e.ip << " jump mark-for-masq\n"
      << "    meta l4proto " << p.protocol << " dnat to " << e.ip << ":" << e.port << "\n  }\n";
  }
  if (p.node_port > 0 || !p.load_balancer_ips.empty())
    o << "  chain np_" << id << " {\n    jump mark-for-masq\n    goto svc_" << id << "\n  }\n";
}

// status.loadBalancer.ingress IPs of a type LoadBalancer Service; ipMode Proxy means the
// balancer must see the traffic (upstream's LoadBalancerIPMode), so those are left alone.
std::vector<std::string> loadBalancerIps(const json& svc) {
  std::vector<std::string> out;
  if (str(field(svc, "spec"), "type") != "LoadBalancer") return out;
  const json& ingress = field(field(field(svc, "status"), "loadBalancer"), "ingress");
  for (const auto& i : ingress.is_array() ? ingress : json::array()) {
    std::string ip = str(i, "ip");
    if (isIpv4(ip) && str(i, "ipMode") != "Proxy") out.push_back(ip);
  }
  return out;
}

}  // namespace

std::vector<ProxyServicePort> buildProxyModel(const std::vector<json>& services,
                                              const std::vector<json>& slices) {
  std::map<std::string, std::vector<const json*>> by_service;
  for (const auto& s : slices) {
    const json& md = field(s, "metadata");
    std::string svc = str(field(md, "labels"), kServiceNameLabel);
    if (!svc.empty()) by_service[str(md, "namespace") + "/" + svc].push_back(&s);
  }
  std::vector<ProxyServicePort> out;
  for (const auto& svc : services) {
    const json& md = field(svc, "metadata");
    const json& spec = field(svc, "spec");
    std::string ip = str(spec, "clusterIP");
    if (str(spec, "type") == "ExternalName" || ip.empty() || ip == "None" || !isIpv4(ip)) continue;
    std::string key = str(md, "namespace") + "/" + str(md, "name");
    int affinity = 0;
    if (str(spec, "sessionAffinity") == "ClientIP") {
      affinity = num(field(field(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds");
      if (affinity <= 0) affinity = 10800;
    }
    for (const auto& port : field(spec, "ports").is_array() ? field(spec, "ports") : json::array()) {
      ProxyServicePort p;
      p.ns = str(md, "namespace");
      p.name = str(md, "name");
      p.port_name = str(port, "name");
      p.protocol = protoOf(port);
      if (p.protocol != "tcp" && p.protocol != "udp" && p.protocol != "sctp") continue;
      p.cluster_ip = ip;
      p.port = num(port, "port");
      p.node_port = num(port, "nodePort");
      p.load_balancer_ips = loadBalancerIps(svc);
      p.affinity_timeout_seconds = affinity;
      if (p.port <= 0) continue;
      auto it = by_service.find(key);
      if (it != by_service.end()) p.endpoints = endpointsFor(it->second, p.port_name, p.protocol);
      out.push_back(std::move(p));
    }
  }
  std::sort(out.begin(), out.end(), [](const ProxyServicePort& a, const ProxyServicePort& b) {
    return std::tie(a.ns, a.name, a.port_name, a.protocol) < std::tie(b.ns, b.name, b.port_name, b.protocol);
  });
  return out;
}

namespace {

constexpr const char* kMaps[] = {"cluster-ips", "node-ports", "lb-ips", "no-endpoints", "no-endpoint-node-ports"};

// The table block: every map, set and chain with its content (add semantics in nft).
std::string renderTableBody(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts) {
  std::vector<std::string> cluster, node, lb, no_ep, no_ep_node;
  std::vector<const ProxyServicePort*> live;
  for (const auto& p : ports) {
    if (opts.skip_ips.count(p.cluster_ip)) continue;
    std::string id = chainId(p);
    std::string tuple = p.protocol + " . " + std::to_string(p.port);
    if (p.endpoints.empty()) {
      no_ep.push_back(p.cluster_ip + " . " + tuple + " : goto reject-svc");
      for (const auto& ip : p.load_balancer_ips) no_ep.push_back(ip + " . " + tuple + " : goto reject-svc");
      if (p.node_port > 0)
        no_ep_node.push_back(p.protocol + " . " + std::to_string(p.node_port) + " : goto reject-svc");
      continue;
    }
    live.push_back(&p);
    cluster.push_back(p.cluster_ip + " . " + tuple + " : goto svc_" + id);
    if (p.node_port > 0)
      node.push_back(p.protocol + " . " + std::to_string(p.node_port) + " : goto np_" + id);
    for (const auto& ip : p.load_balancer_ips) lb.push_back(ip + " . " + tuple + " : goto np_" + id);
  }
  const std::string& t = opts.table;
  std::ostringstream o;
  o << "table ip " << t << " {\n";
  o << "  map cluster-ips {\n    type ipv4_addr . inet_proto . inet_service : verdict\n";
  renderElements(o, cluster);
  o << "  }\n  map node-ports {\n    type inet_proto . inet_service : verdict\n";
  renderElements(o, node);
  o << "  }\n  map lb-ips {\n    type ipv4_addr . inet_proto . inet_service : verdict\n";
  renderElements(o, lb);
  o << "  }\n  map no-endpoints {\n    type ipv4_addr . inet_proto . inet_service : verdict\n";
  renderElements(o, no_ep);
  o << "  }\n  map no-endpoint-node-ports {\n    type inet_proto . inet_service : verdict\n";
  renderElements(o, no_ep_node);
  o << "  }\n"
    << "  chain services {\n"
    << "    ip daddr . meta l4proto . th dport vmap @cluster-ips\n"
    << "    ip daddr . meta l4proto . th dport vmap @lb-ips\n"
    << "    fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @node-ports\n"
    << "  }\n"
    << "  chain nat-prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
    << "    jump services\n  }\n"
    << "  chain nat-output {\n    type nat hook output priority -100; policy accept;\n"
    << "    jump services\n  }\n"
    << "  chain nat-postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
    << "    meta mark & " << kMasqMark << " == " << kMasqMark << " meta mark set meta mark ^ "
    << kMasqMark << " masquerade\n";
  if (!opts.pod_bridge.empty())
    o << "    iifname \"" << opts.pod_bridge << "\" oifname \"" << opts.pod_bridge
      << "\" ct status dnat masquerade\n";
  o << "  }\n"
    << "  chain mark-for-masq {\n    meta mark set meta mark | " << kMasqMark << "\n  }\n"
    << "  chain reject-svc {\n    reject\n  }\n"
    << "  chain filter-forward {\n    type filter hook forward priority filter; policy accept;\n"
    << "    ct state new ip daddr . meta l4proto . th dport vmap @no-endpoints\n  }\n"
    << "  chain filter-output {\n    type filter hook output priority filter; policy accept;\n"
    << "    ct state new ip daddr . meta l4proto . th dport vmap @no-endpoints\n  }\n"
    << "  chain filter-input {\n    type filter hook input priority filter; policy accept;\n"
    << "    ct state new fib daddr type local meta l4proto . th dport vmap @no-endpoint-node-ports\n"
    << "  }\n";
  for (const ProxyServicePort* p : live) renderServiceChains(o, *p);
  o << "}\n";
  return o.str();
}

}  // namespace

std::string renderRuleset(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts) {
  const std::string& t = opts.table;
  return "table ip " + t + " {}\ndelete table ip " + t + "\n" + renderTableBody(ports, opts);
}

std::string renderRulesetUpdate(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts,
                                const std::string& previous) {
  const std::string& t = opts.table;
  std::string body = renderTableBody(ports, opts);
  std::string out = "flush table ip " + t + "\n";
  for (const char* m : kMaps) out += "flush map ip " + t + " " + m + "\n";
  // Rules and map elements are gone by now, so nothing refers to the objects left over.
  std::set<std::string> keep = declaredObjects(body);
  for (const auto& obj : declaredObjects(previous))
    if (!keep.count(obj)) out += "delete " + obj.substr(0, obj.find(' ')) + " ip " + t + obj.substr(obj.find(' ')) + "\n";
  return out + body;
}

std::set<std::string> declaredObjects(const std::string& script) {
  std::set<std::string> out;
  std::istringstream in(script);
  std::string line;
  while (std::getline(in, line)) {
    for (const char* kind : {"chain", "set", "map"}) {
      std::string prefix = std::string("  ") + kind + " ";
      if (line.rfind(prefix, 0) != 0) continue;
      std::string name = line.substr(prefix.size());
      name = name.substr(0, name.find(' '));
      if (!name.empty()) out.insert(std::string(kind) + " " + name);
    }
  }
  return out;
}

std::string proxyTableName(const std::string& node) {
  std::string safe;
  for (char c : toLower(node)) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') ? c : '-';
  if (safe.size() > 64) safe = safe.substr(0, 48) + "-" + hashHex(node).substr(0, 12);
  return "berth-proxy-" + safe;
}

void stripService(json& svc) {
  json md = {{"name", svc["metadata"].value("name", "")},
             {"namespace", svc["metadata"].value("namespace", "")},
             {"resourceVersion", svc["metadata"].value("resourceVersion", "")}};
  json spec = json::object();
  const json& s = field(svc, "spec");
  for (const char* k : {"clusterIP", "type", "ports", "sessionAffinity", "sessionAffinityConfig"})
    if (s.is_object() && s.contains(k)) spec[k] = s[k];
  json ingress = field(field(field(svc, "status"), "loadBalancer"), "ingress");
  svc = {{"metadata", md}, {"spec", spec}};
  if (ingress.is_array() && !ingress.empty()) svc["status"] = {{"loadBalancer", {{"ingress", ingress}}}};
}

void stripEndpointSlice(json& slice) {
  const json& md0 = field(slice, "metadata");
  json md = {{"name", str(md0, "name")}, {"namespace", str(md0, "namespace")},
             {"resourceVersion", str(md0, "resourceVersion")}};
  std::string svc = str(field(md0, "labels"), kServiceNameLabel);
  if (!svc.empty()) md["labels"] = {{kServiceNameLabel, svc}};
  json eps = json::array();
  for (const auto& e : field(slice, "endpoints").is_array() ? field(slice, "endpoints") : json::array()) {
    json x = {{"addresses", field(e, "addresses")}};
    if (field(e, "conditions").is_object()) x["conditions"] = e["conditions"];
    eps.push_back(std::move(x));
  }
  json out = {{"metadata", md}, {"addressType", str(slice, "addressType")}, {"endpoints", eps}};
  if (field(slice, "ports").is_array()) out["ports"] = slice["ports"];
  slice = std::move(out);
}

}  // namespace berth::kubelet::net
