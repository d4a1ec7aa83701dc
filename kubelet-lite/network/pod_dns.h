// The pod's resolver configuration from its dnsPolicy and dnsConfig, as kubelet computes it:
//   ClusterFirst (the default): nameserver = the cluster DNS, search <ns>.svc.<domain>
//     svc.<domain> <domain> plus the host's search domains, options ndots:5. Without a cluster
//     DNS, and for hostNetwork pods, it falls back to Default.
//   ClusterFirstWithHostNet: the cluster DNS, also for hostNetwork pods.
//   Default: the node's /etc/resolv.conf.
//   None: only what spec.dnsConfig gives.
// spec.dnsConfig is merged on top: nameservers and searches appended (without duplicates),
// options replace ones of the same name.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kubelet-lite/runtime/runtime.h"

namespace berth::kubelet::net {

// Parses resolv.conf text (nameserver, search/domain, options lines).
DnsConfig parseResolvConf(const std::string& text);

// `host_resolv` is the node's /etc/resolv.conf text; `cluster_dns` may be empty.
DnsConfig podDnsConfig(const nlohmann::json& pod, const std::vector<std::string>& cluster_dns,
                       const std::string& cluster_domain, const std::string& host_resolv);

}  // namespace berth::kubelet::net
