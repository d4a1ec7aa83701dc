#include "controllers/service_endpoints.h"

#include <algorithm>

#include "controllers/replicaset_controller.h"

namespace berth::controllers {

namespace {

std::string ipv4Of(const json& pod) {
  const json& ips = jsonAt(pod, {"status", "podIPs"});
  if (ips.is_array()) {
    for (const auto& i : ips) {
      std::string ip = i.is_object() ? i.value("ip", "") : "";
      if (!ip.empty() && ip.find(':') == std::string::npos) return ip;
    }
  }
  std::string ip = strAt(pod, {"status", "podIP"});
  return ip.find(':') == std::string::npos ? ip : "";
}

// The container port named `name` with `protocol`, or 0.
int64_t namedPort(const json& pod, const std::string& name, const std::string& protocol) {
  const json& containers = jsonAt(pod, {"spec", "containers"});
  if (!containers.is_array()) return 0;
  for (const auto& c : containers) {
    const json& ports = jsonAt(c, {"ports"});
    if (!ports.is_array()) continue;
    for (const auto& p : ports)
      if (p.is_object() && p.value("name", "") == name && p.value("protocol", "TCP") == protocol)
        return p.value("containerPort", int64_t{0});
  }
  return 0;
}

json resolvePorts(const json& service, const json& pod) {
  json out = json::array();
  const json& ports = jsonAt(service, {"spec", "ports"});
  if (!ports.is_array()) return out;
  for (const auto& sp : ports) {
    if (!sp.is_object()) continue;
    std::string protocol = sp.value("protocol", "TCP");
    const json& target = jsonAt(sp, {"targetPort"});
    int64_t port = 0;
    if (target.is_number_integer()) port = target.get<int64_t>();
    else if (target.is_string()) port = namedPort(pod, target.get<std::string>(), protocol);
    else port = sp.value("port", int64_t{0});
    if (port <= 0) continue;  // a named port this pod does not declare
    json ep = {{"name", sp.value("name", "")}, {"port", port}, {"protocol", protocol}};
    if (sp.contains("appProtocol")) ep["appProtocol"] = sp["appProtocol"];
    out.push_back(std::move(ep));
  }
  return out;
}

}  // namespace

bool serviceHasSelector(const json& service) {
  const json& sel = jsonAt(service, {"spec", "selector"});
  return sel.is_object() && !sel.empty();
}

bool serviceSelects(const json& service, const json& pod) {
  if (!serviceHasSelector(service)) return false;
  const json& sel = jsonAt(service, {"spec", "selector"});
  const json& labels = jsonAt(pod, {"metadata", "labels"});
  if (!labels.is_object()) return false;
  for (auto it = sel.begin(); it != sel.end(); ++it)
    if (!labels.contains(it.key()) || labels[it.key()] != it.value()) return false;
  return true;
}

std::vector<PodEndpoint> podEndpointsFor(const json& service,
                                         const std::vector<client::ObjectPtr>& pods,
                                         bool include_terminating) {
  std::vector<PodEndpoint> out;
  for (const auto& pod : pods) {
    if (!serviceSelects(service, *pod)) continue;
    std::string phase = strAt(*pod, {"status", "phase"});
    if (phase == "Succeeded" || phase == "Failed") continue;
    PodEndpoint ep;
    ep.ip = ipv4Of(*pod);
    if (ep.ip.empty()) continue;
    ep.terminating = isDeleting(*pod);
    if (ep.terminating && !include_terminating) continue;
    ep.pod = pod;
    ep.pod_ready = podReady(*pod);
    ep.ports = resolvePorts(service, *pod);
    out.push_back(std::move(ep));
  }
  std::sort(out.begin(), out.end(), [](const PodEndpoint& a, const PodEndpoint& b) {
    if (a.ip != b.ip) return a.ip < b.ip;
    return nameOf(*a.pod) < nameOf(*b.pod);
  });
  return out;
}

std::vector<std::string> servicesSelecting(const client::Informer& services, const json& pod) {
  std::vector<std::string> keys;
  for (const auto& svc : services.byIndex(client::kIndexNamespace, namespaceOf(pod)))
    if (serviceSelects(*svc, pod)) keys.push_back(client::objectKey(*svc));
  return keys;
}

}  // namespace berth::controllers
