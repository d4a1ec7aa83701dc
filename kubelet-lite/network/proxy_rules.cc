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

NftObject chain(std::string name, std::vector<std::string> spec, std::vector<std::string> rules) {
  return {"chain", std::move(name), std::move(spec), std::move(rules)};
}

// svc_ (numgen over the endpoints, after the ClientIP affinity matches), one ep_ per endpoint
// with its affinity set, and np_ for node ports and load-balancer IPs. An affinity set's name
// carries the timeout, so a changed timeout is a new set (a set's type cannot be changed).
void addServiceObjects(const ProxyServicePort& p, std::vector<NftObject>& out) {
  std::string id = chainId(p);
  bool affinity = p.affinity_timeout_seconds > 0;
  auto affSet = [&](const ProxyEndpoint& e) {
    return "aff_" + epId(p, e) + "_" + std::to_string(p.affinity_timeout_seconds);
  };
  std::vector<std::string> svc_rules;
  if (affinity)
    for (const auto& e : p.endpoints) svc_rules.push_back("ip saddr @" + affSet(e) + " goto ep_" + epId(p, e));
  std::string vmap = "numgen random mod " + std::to_string(p.endpoints.size()) + " vmap { ";
  for (size_t i = 0; i < p.endpoints.size(); ++i)
    vmap += (i ? ", " : "") + std::to_string(i) + " : goto ep_" + epId(p, p.endpoints[i]);
  svc_rules.push_back(vmap + " }");
  std::string comment = "comment \"" + p.ns + "/" + p.name + (p.port_name.empty() ? "" : ":" + p.port_name) + "\"";
  out.push_back(chain("svc_" + id, {comment}, std::move(svc_rules)));
  for (const auto& e : p.endpoints) {
    std::string eid = epId(p, e);
    std::vector<std::string> rules;
    if (affinity) {
      out.push_back({"set", affSet(e),
                     {"type ipv4_addr; flags dynamic,timeout; timeout " + std::to_string(p.affinity_timeout_seconds) + "s"},
                     {}});
      rules.push_back("update @" + affSet(e) + " { ip saddr }");
    }
    rules.push_back("ip saddr " + e.ip + " jump mark-for-masq");
    rules.push_back("meta l4proto " + p.protocol + " dnat to " + e.ip + ":" + std::to_string(e.port));
    out.push_back(chain("ep_" + eid, {}, std::move(rules)));
  }
  if (p.node_port > 0 || !p.load_balancer_ips.empty())
    out.push_back(chain("np_" + id, {}, {"jump mark-for-masq", "goto svc_" + id}));
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

constexpr char kIpPortVerdict[] = "type ipv4_addr . inet_proto . inet_service : verdict";
constexpr char kPortVerdict[] = "type inet_proto . inet_service : verdict";

std::string objectKey(const NftObject& o) { return o.kind + " " + o.name; }

void renderObject(std::ostringstream& o, const NftObject& obj, const std::map<std::string, std::string>* elements) {
  o << "  " << obj.kind << " " << obj.name << " {\n";
  for (const auto& line : obj.spec) o << "    " << line << "\n";
  for (const auto& rule : obj.rules) o << "    " << rule << "\n";
  if (elements && !elements->empty()) {
    o << "    elements = { ";
    bool first = true;
    for (const auto& [key, verdict] : *elements) {
      o << (first ? "" : ",\n                 ") << key << " : " << verdict;
      first = false;
    }
    o << " }\n";
  }
  o << "  }\n";
}

std::string joinKeys(const std::vector<std::string>& keys) { return join(keys, ", "); }

}  // namespace

ProxyTable buildProxyTable(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts) {
  ProxyTable t;
  t.name = opts.table;
  auto& cluster = t.elements["cluster-ips"];
  auto& node = t.elements["node-ports"];
  auto& lb = t.elements["lb-ips"];
  auto& no_ep = t.elements["no-endpoints"];
  auto& no_ep_node = t.elements["no-endpoint-node-ports"];
  std::vector<NftObject> service_objects;
  for (const auto& p : ports) {
    if (opts.skip_ips.count(p.cluster_ip)) continue;
    std::string id = chainId(p);
    std::string tuple = " . " + p.protocol + " . " + std::to_string(p.port);
    std::string node_key = p.protocol + " . " + std::to_string(p.node_port);
    if (p.endpoints.empty()) {
      no_ep[p.cluster_ip + tuple] = "goto reject-svc";
      for (const auto& ip : p.load_balancer_ips) no_ep[ip + tuple] = "goto reject-svc";
      if (p.node_port > 0) no_ep_node[node_key] = "goto reject-svc";
      continue;
    }
    cluster[p.cluster_ip + tuple] = "goto svc_" + id;
    if (p.node_port > 0) node[node_key] = "goto np_" + id;
    for (const auto& ip : p.load_balancer_ips) lb[ip + tuple] = "goto np_" + id;
    addServiceObjects(p, service_objects);
  }
  std::string masq = std::string("meta mark & ") + kMasqMark + " == " + kMasqMark + " meta mark set meta mark ^ " +
                     kMasqMark + " masquerade";
  std::vector<std::string> postrouting = {masq};
  if (!opts.pod_bridge.empty())
    postrouting.push_back("iifname \"" + opts.pod_bridge + "\" oifname \"" + opts.pod_bridge +
                          "\" ct status dnat masquerade");
  const char* no_ep_rule = "ct state new ip daddr . meta l4proto . th dport vmap @no-endpoints";
  t.objects = {
      {"map", "cluster-ips", {kIpPortVerdict}, {}},
      {"map", "node-ports", {kPortVerdict}, {}},
      {"map", "lb-ips", {kIpPortVerdict}, {}},
      {"map", "no-endpoints", {kIpPortVerdict}, {}},
      {"map", "no-endpoint-node-ports", {kPortVerdict}, {}},
      chain("services", {},
            {"ip daddr . meta l4proto . th dport vmap @cluster-ips",
             "ip daddr . meta l4proto . th dport vmap @lb-ips",
             "fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @node-ports"}),
      chain("nat-prerouting", {"type nat hook prerouting priority dstnat; policy accept;"}, {"jump services"}),
      chain("nat-output", {"type nat hook output priority -100; policy accept;"}, {"jump services"}),
      chain("nat-postrouting", {"type nat hook postrouting priority srcnat; policy accept;"}, postrouting),
      chain("mark-for-masq", {}, {std::string("meta mark set meta mark | ") + kMasqMark}),
      chain("reject-svc", {}, {"reject"}),
      chain("filter-forward", {"type filter hook forward priority filter; policy accept;"}, {no_ep_rule}),
      chain("filter-output", {"type filter hook output priority filter; policy accept;"}, {no_ep_rule}),
      chain("filter-input", {"type filter hook input priority filter; policy accept;"},
            {"ct state new fib daddr type local meta l4proto . th dport vmap @no-endpoint-node-ports"}),
  };
  for (auto& obj : service_objects) t.objects.push_back(std::move(obj));
  return t;
}

std::string renderRuleset(const ProxyTable& table) {
  const std::string& t = table.name;
  std::ostringstream o;
  o << "table ip " << t << " {}\ndelete table ip " << t << "\ntable ip " << t << " {\n";
  for (const auto& obj : table.objects) {
    auto els = table.elements.find(obj.name);
    renderObject(o, obj, obj.kind == "map" && els != table.elements.end() ? &els->second : nullptr);
  }
  o << "}\n";
  return o.str();
}

std::string renderRuleset(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts) {
  return renderRuleset(buildProxyTable(ports, opts));
}

std::string renderRulesetUpdate(const ProxyTable& applied, const ProxyTable& next) {
  if (applied.name != next.name) return renderRuleset(next);
  const std::string& t = next.name;
  std::map<std::string, const NftObject*> before, after;
  for (const auto& obj : applied.objects) before[objectKey(obj)] = &obj;
  for (const auto& obj : next.objects) after[objectKey(obj)] = &obj;
  // A set or map cannot be redeclared in place (nor emptied of its elements without a full
  // diff of them): replace the table. The renderer never does this to a live set.
  for (const auto& [key, obj] : before) {
    auto it = after.find(key);
    if (obj->kind != "chain" && it != after.end() && !(*it->second == *obj)) return renderRuleset(next);
  }
  static const std::map<std::string, std::string> kNone;
  auto elementsOf = [](const ProxyTable& table, const std::string& map) -> const std::map<std::string, std::string>& {
    auto it = table.elements.find(map);
    return it == table.elements.end() ? kNone : it->second;
  };
  std::ostringstream o;
  // 1. Map elements that go or point elsewhere, so nothing refers to the chains deleted below.
  for (const auto& [map, els] : applied.elements) {
    if (!after.count("map " + map)) continue;  // the map itself goes
    const auto& now = elementsOf(next, map);
    std::vector<std::string> gone;
    for (const auto& [key, verdict] : els) {
      auto it = now.find(key);
      if (it == now.end() || it->second != verdict) gone.push_back(key);
    }
    if (!gone.empty()) o << "delete element ip " << t << " " << map << " { " << joinKeys(gone) << " }\n";
  }
  // 2. Chains that go or change lose their rules (and with them their references).
  for (const auto& obj : applied.objects) {
    auto it = after.find(objectKey(obj));
    if (obj.kind == "chain" && (it == after.end() || !(*it->second == obj)))
      o << "flush chain ip " << t << " " << obj.name << "\n";
  }
  // 3. Objects that go.
  for (const auto& obj : applied.objects)
    if (!after.count(objectKey(obj))) o << "delete " << obj.kind << " ip " << t << " " << obj.name << "\n";
  // 4. New objects, and the changed chains' rules again.
  std::ostringstream block;
  for (const auto& obj : next.objects) {
    auto it = before.find(objectKey(obj));
    if (it != before.end() && *it->second == obj) continue;
    auto els = next.elements.find(obj.name);
    bool new_map = obj.kind == "map" && it == before.end();
    renderObject(block, obj, new_map && els != next.elements.end() ? &els->second : nullptr);
  }
  if (!block.str().empty()) o << "table ip " << t << " {\n" << block.str() << "}\n";
  // 5. Map elements that are new or point elsewhere, in maps that were there already.
  for (const auto& [map, els] : next.elements) {
    if (!before.count("map " + map)) continue;
    const auto& was = elementsOf(applied, map);
    std::vector<std::string> added;
    for (const auto& [key, verdict] : els) {
      auto it = was.find(key);
      if (it == was.end() || it->second != verdict) added.push_back(key + " : " + verdict);
    }
    if (!added.empty()) o << "add element ip " << t << " " << map << " { " << joinKeys(added) << " }\n";
  }
  return o.str();
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
