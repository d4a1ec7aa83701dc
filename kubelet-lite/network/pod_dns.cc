#include "kubelet-lite/network/pod_dns.h"

#include <algorithm>
#include <sstream>

namespace berth::kubelet::net {

using json = nlohmann::json;

namespace {

void appendUnique(std::vector<std::string>& to, const std::string& v) {
  if (!v.empty() && std::find(to.begin(), to.end(), v) == to.end()) to.push_back(v);
}

std::string optionName(const std::string& opt) { return opt.substr(0, opt.find(':')); }

void mergeOption(std::vector<std::string>& to, const std::string& opt) {
  auto it = std::find_if(to.begin(), to.end(),
                         [&](const std::string& o) { return optionName(o) == optionName(opt); });
  if (it != to.end()) *it = opt;
  else to.push_back(opt);
}

std::string strField(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

DnsConfig parseResolvConf(const std::string& text) {
  DnsConfig d;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto hash = line.find_first_of("#;");
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string key, v;
    words >> key;
    if (key == "nameserver") {
      if (words >> v) appendUnique(d.servers, v);
    } else if (key == "search" || key == "domain") {
      d.searches.clear();  // the last search/domain line wins, as in the resolver
      while (words >> v) appendUnique(d.searches, v);
    } else if (key == "options") {
      while (words >> v) mergeOption(d.options, v);
    }
  }
  return d;
}

DnsConfig podDnsConfig(const json& pod, const std::vector<std::string>& cluster_dns,
                       const std::string& cluster_domain, const std::string& host_resolv) {
  const json spec = pod.is_object() && pod.contains("spec") ? pod["spec"] : json::object();
  std::string policy = strField(spec, "dnsPolicy");
  if (policy.empty()) policy = "ClusterFirst";
  bool host_network = spec.is_object() && spec.value("hostNetwork", false);
  bool cluster = (policy == "ClusterFirstWithHostNet") ||
                 (policy == "ClusterFirst" && !host_network);
  if (cluster && cluster_dns.empty()) cluster = false;

  DnsConfig d;
  if (policy == "None") {
    // Only dnsConfig.
  } else if (cluster) {
    DnsConfig host = parseResolvConf(host_resolv);
    d.servers = cluster_dns;
    std::string ns = strField(pod.value("metadata", json::object()), "namespace");
    if (ns.empty()) ns = "default";
    d.searches = {ns + ".svc." + cluster_domain, "svc." + cluster_domain, cluster_domain};
    for (const auto& s : host.searches) appendUnique(d.searches, s);
    d.options = {"ndots:5"};
  } else {
    d = parseResolvConf(host_resolv);
  }
  const json& cfg = spec.is_object() && spec.contains("dnsConfig") ? spec["dnsConfig"] : json();
  if (cfg.is_object()) {
    for (const auto& s : cfg.value("nameservers", json::array()))
      if (s.is_string()) appendUnique(d.servers, s.get<std::string>());
    for (const auto& s : cfg.value("searches", json::array()))
      if (s.is_string()) appendUnique(d.searches, s.get<std::string>());
    for (const auto& o : cfg.value("options", json::array())) {
      std::string name = strField(o, "name");
      if (name.empty()) continue;
      std::string value = strField(o, "value");
      mergeOption(d.options, value.empty() ? name : name + ":" + value);
    }
  }
  return d;
}

}  // namespace berth::kubelet::net
