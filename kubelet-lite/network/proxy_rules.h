// The service proxy's model and its nftables rendering (kube-proxy's nftables mode, written for
// Berth): Services and EndpointSlices in, one `nft -f` script out that replaces the node's table
// as a whole in one transaction.
//
// Table "ip <table>":
//   cluster-ips   map  clusterIP . proto . port -> goto svc_<hash>      (nat prerouting/output)
//   node-ports    map  proto . nodePort -> goto np_<hash>, for local addresses except 127/8
//   lb-ips        map  ingressIP . proto . port -> goto np_<hash>: the status.loadBalancer.ingress
//                 IPs (ipMode VIP or unset) of type LoadBalancer Services, so pods and nodes
//                 reaching the balancer's address go straight to the endpoints, as kube-proxy does
//   no-endpoints  map  clusterIP (or ingress IP) . proto . port -> reject, and nodeports without endpoints
//                 (filter forward/output/input): a Service without ready endpoints refuses
//   svc_<hash>    numgen random mod N over the ready endpoints (ep_<hash> chains), after
//                 ClientIP affinity sets (aff_<hash>_<timeout>) when sessionAffinity is ClientIP
//   ep_<hash>     DNAT to ip:port; a pod reaching itself through its Service is masqueraded
//   np_<hash>     marks for masquerade, then the svc chain (node ports and load-balancer IPs)
//   nat-postrouting: masquerades marked packets, and DNATed traffic that leaves the pod bridge
//                 it came in on (two pods of one bridge behind a ClusterIP)
// Only ready endpoints (conditions.ready unset or true) receive traffic. Headless and
// ExternalName Services, and IPs listed in RenderOptions::skip_ips (the cluster DNS address
// served on the node itself), get no rules.
// Thread-safety: pure functions and values.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::kubelet::net {

struct ProxyEndpoint {
  std::string ip;
  int port = 0;
  bool operator<(const ProxyEndpoint& o) const { return ip != o.ip ? ip < o.ip : port < o.port; }
  bool operator==(const ProxyEndpoint& o) const { return ip == o.ip && port == o.port; }
};

// One port of one Service, with its ready endpoints.
struct ProxyServicePort {
  std::string ns, name, port_name;
  std::string protocol;  // "tcp" | "udp" | "sctp"
  std::string cluster_ip;
  int port = 0;
  int node_port = 0;  // 0: none
  std::vector<std::string> load_balancer_ips;  // type LoadBalancer: ingress IPs handled in-cluster
  int affinity_timeout_seconds = 0;  // > 0: sessionAffinity ClientIP
  std::vector<ProxyEndpoint> endpoints;  // ready ones, sorted
};

// The ports to program, from Services and their EndpointSlices (label kubernetes.io/service-name),
// sorted by namespace/name/port.
std::vector<ProxyServicePort> buildProxyModel(const std::vector<nlohmann::json>& services,
                                              const std::vector<nlohmann::json>& slices);

struct RenderOptions {
  std::string table;                // e.g. "berth-proxy-<node>"
  std::string pod_bridge;           // hairpin masquerade on this bridge; empty: none
  std::set<std::string> skip_ips;   // cluster IPs served locally (cluster DNS)
};

// One chain, set or map of the proxy table: the unit an update adds, flushes or deletes.
struct NftObject {
  std::string kind;                // "chain" | "set" | "map"
  std::string name;
  std::vector<std::string> spec;   // lines before the rules: comment, type/hook/policy, flags
  std::vector<std::string> rules;  // chains only, one rule a line
  bool operator==(const NftObject&) const = default;
};

// The table's whole content as the kernel should hold it: what a replace writes in full and
// what an update compares against the table applied last.
struct ProxyTable {
  std::string name;
  std::vector<NftObject> objects;                                      // in declaration order
  std::map<std::string, std::map<std::string, std::string>> elements;  // map -> key -> verdict
  bool operator==(const ProxyTable&) const = default;
};

ProxyTable buildProxyTable(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts);

// The replace: create-if-missing, delete, then the full table, in one transaction. Used for the
// first sync of an agent (whatever an earlier run left is dropped) and when an update is refused.
std::string renderRuleset(const ProxyTable& table);
std::string renderRuleset(const std::vector<ProxyServicePort>& ports, const RenderOptions& opts);

// The update from `applied` (the table the kernel holds) to `next`, touching only what differs:
// map elements that go or change are deleted, chains that go or change are flushed, objects that
// go are deleted, new objects and the changed chains' rules are added, then the new map elements.
// One endpoint turning unready so deletes its ep_ chain and rewrites its Service's svc_ chain
// (or swaps the Service's map elements when it was the last one): a transaction of a few
// netlink messages whatever the number of Services, where re-adding the whole table cost
// milliseconds of CPU per sync. The table, its base chains and the ClientIP affinity sets of
// remaining endpoints stay as they are. "" when nothing differs; the replace when a set or map
// would change its declaration (not done in place).
std::string renderRulesetUpdate(const ProxyTable& applied, const ProxyTable& next);

// "berth-proxy-" + the node name made safe for nft (lower-case letters, digits, '-', '.').
std::string proxyTableName(const std::string& node);

// Services and EndpointSlices stripped to what the proxy and the DNS read (informer transforms).
void stripService(nlohmann::json& svc);
void stripEndpointSlice(nlohmann::json& slice);

}  // namespace berth::kubelet::net
