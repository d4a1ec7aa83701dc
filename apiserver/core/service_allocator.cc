#include "apiserver/core/service_allocator.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace berth::apiserver {

namespace {
bool parseIp(const std::string& s, uint32_t* out) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  *out = ntohl(a.s_addr);
  return true;
}
std::string formatIp(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}
bool needsNodePorts(const nlohmann::json& svc) {
  std::string type = svc["spec"].value("type", "ClusterIP");
  return type == "NodePort" || type == "LoadBalancer";
}
// allocateLoadBalancerNodePorts false: a LoadBalancer Service gets only the nodePorts it asks for.
bool autoNodePorts(const nlohmann::json& svc) {
  const auto& spec = svc["spec"];
  return !(spec.value("type", "") == "LoadBalancer" && spec.contains("allocateLoadBalancerNodePorts") &&
           spec["allocateLoadBalancerNodePorts"].is_boolean() && !spec["allocateLoadBalancerNodePorts"].get<bool>());
}
bool headless(const nlohmann::json& svc) {
  return svc["spec"].value("clusterIP", "") == "None";
}
}  // namespace

Result<std::unique_ptr<ServiceAllocator>> ServiceAllocator::create(const std::string& cidr,
                                                                   const std::string& range) {
  auto slash = cidr.find('/');
  uint32_t base;
  if (slash == std::string::npos || !parseIp(cidr.substr(0, slash), &base))
    return badRequest("invalid service CIDR \"" + cidr + "\"");
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (bits < 8 || bits > 30) return badRequest("service CIDR \"" + cidr + "\" must be /8../30");
  uint32_t size = 1u << (32 - bits);
  base &= ~(size - 1);
  auto dash = range.find('-');
  if (dash == std::string::npos) return badRequest("invalid node port range \"" + range + "\"");
  int lo = std::atoi(range.substr(0, dash).c_str()), hi = std::atoi(range.substr(dash + 1).c_str());
  if (lo <= 0 || hi > 65535 || lo > hi) return badRequest("invalid node port range \"" + range + "\"");
  return std::unique_ptr<ServiceAllocator>(new ServiceAllocator(base, size, lo, hi));
}

std::string ServiceAllocator::firstAddress() const { return formatIp(base_ + 1); }
std::string ServiceAllocator::dnsAddress() const { return formatIp(base_ + 10); }

namespace {
// A 422 whose single cause names `field`; the REST layer words it as upstream's
// `Service "x" is invalid: <field>: <detail>`.
Status fieldInvalid(const std::string& field, const std::string& detail) {
  return invalid(field + ": " + detail).withCause({"FieldValueInvalid", detail, field});
}
}  // namespace

Result<std::string> ServiceAllocator::allocateIp(const std::string& requested) {
  if (!requested.empty()) {
    uint32_t ip;
    if (!parseIp(requested, &ip))
      return fieldInvalid("spec.clusterIPs[0]", "Invalid value: \"" + requested +
                                                    "\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::1234)");
    // As upstream's allocator: a requested IP it cannot take is reported on spec.clusterIPs.
    const std::string failed = "Invalid value: []string{\"" + requested + "\"}: failed to allocate IP " + requested + ": ";
    if (ip <= base_ || ip >= base_ + size_ - 1)
      return fieldInvalid("spec.clusterIPs", failed + "the provided IP (" + requested +
                                                 ") is not in the valid range. The range of valid IPs is " +
                                                 formatIp(base_) + "/" + std::to_string(32 - __builtin_ctz(size_)));
    if (ips_.count(ip)) return fieldInvalid("spec.clusterIPs", failed + "provided IP is already allocated");
    ips_.insert(ip);
    return requested;
  }
  for (uint32_t n = 0; n < size_ - 2; ++n) {
    uint32_t off = 1 + (next_ip_ + n) % (size_ - 2);
    uint32_t ip = base_ + off;
    if (!ips_.count(ip)) {
      ips_.insert(ip);
      next_ip_ = off + 1;
      return formatIp(ip);
    }
  }
  return Status(Code::kInternal, "Internal error occurred: failed to allocate a serviceIP: range is full");
}

Result<int> ServiceAllocator::allocatePort(int requested, size_t index) {
  if (requested) {
    const std::string field = "spec.ports[" + std::to_string(index) + "].nodePort";
    const std::string value = "Invalid value: " + std::to_string(requested) + ": ";
    if (requested < port_lo_ || requested > port_hi_)
      return fieldInvalid(field, value + "provided port is not in the valid range. The range of valid ports is " +
                                     std::to_string(port_lo_) + "-" + std::to_string(port_hi_));
    if (ports_.count(requested)) return fieldInvalid(field, value + "provided port is already allocated");
    ports_.insert(requested);
    return requested;
  }
  int span = port_hi_ - port_lo_ + 1;
  for (int n = 0; n < span; ++n) {
    int p = port_lo_ + (next_port_ + n) % span;
    if (!ports_.count(p)) {
      ports_.insert(p);
      next_port_ = p - port_lo_ + 1;
      return p;
    }
  }
  return Status(Code::kInternal, "Internal error occurred: failed to allocate a nodePort: range is full");
}

Status ServiceAllocator::allocate(nlohmann::json& svc) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& spec = svc["spec"];
  std::string type = spec.value("type", "ClusterIP");
  if (type == "ExternalName") return Status::ok();
  std::vector<uint32_t> taken_ips;
  std::vector<int> taken_ports;
  auto rollback = [&] {
    for (auto ip : taken_ips) ips_.erase(ip);
    for (auto p : taken_ports) ports_.erase(p);
  };
  if (!headless(svc)) {
    std::string requested = spec.value("clusterIP", "");
    if (requested.empty() && spec.contains("clusterIPs") && spec["clusterIPs"].is_array() &&
        !spec["clusterIPs"].empty() && spec["clusterIPs"][0].is_string())
      requested = spec["clusterIPs"][0].get<std::string>();
    auto ip = allocateIp(requested);
    if (!ip.isOk()) return ip.status();
    uint32_t raw = 0;
    parseIp(*ip, &raw);
    taken_ips.push_back(raw);
    spec["clusterIP"] = *ip;
    spec["clusterIPs"] = nlohmann::json::array({*ip});
  } else {
    spec["clusterIPs"] = nlohmann::json::array({"None"});
  }
  if (needsNodePorts(svc) && spec.contains("ports") && spec["ports"].is_array()) {
    for (size_t i = 0; i < spec["ports"].size(); ++i) {
      auto& port = spec["ports"][i];
      int requested = port.value("nodePort", 0);
      if (requested == 0 && !autoNodePorts(svc)) continue;
      auto p = allocatePort(requested, i);
      if (!p.isOk()) {
        rollback();
        return p.status();
      }
      taken_ports.push_back(*p);
      port["nodePort"] = *p;
    }
  }
  return Status::ok();
}

void dropTypeDependentFields(nlohmann::json& svc, const nlohmann::json& old) {
  if (!svc["spec"].is_object() || !old.contains("spec") || !old["spec"].is_object()) return;
  auto& spec = svc["spec"];
  const auto& ospec = old["spec"];
  auto same = [&](const char* f) {
    return spec.contains(f) == ospec.contains(f) && (!spec.contains(f) || spec[f] == ospec[f]);
  };
  std::string type = spec.value("type", "ClusterIP"), otype = ospec.value("type", "ClusterIP");
  if (otype != "ExternalName" && type == "ExternalName") {
    if (same("clusterIP") && same("clusterIPs")) {
      spec.erase("clusterIP");
      spec.erase("clusterIPs");
    }
    if (same("ipFamilies")) spec.erase("ipFamilies");
    if (same("ipFamilyPolicy")) spec.erase("ipFamilyPolicy");
  }
  bool needed = otype == "NodePort" || otype == "LoadBalancer";
  bool needs = type == "NodePort" || type == "LoadBalancer";
  if (needed && !needs) {
    // Node ports the user left as they were go with the type that needed them.
    auto nodePorts = [](const nlohmann::json& sp) {
      std::vector<int> out;
      if (sp.contains("ports") && sp["ports"].is_array())
        for (const auto& p : sp["ports"]) out.push_back(p.is_object() ? p.value("nodePort", 0) : 0);
      return out;
    };
    std::vector<int> now = nodePorts(spec), before = nodePorts(ospec);
    if (now == before && spec.contains("ports") && spec["ports"].is_array())
      for (auto& p : spec["ports"]) p.erase("nodePort");
    if (same("externalTrafficPolicy")) spec.erase("externalTrafficPolicy");
  }
  if (otype == "LoadBalancer" && type != "LoadBalancer") {
    if (same("healthCheckNodePort")) spec.erase("healthCheckNodePort");
    if (same("allocateLoadBalancerNodePorts")) spec.erase("allocateLoadBalancerNodePorts");
    if (same("loadBalancerClass")) spec.erase("loadBalancerClass");
    if (svc.contains("status") && svc["status"].is_object()) svc["status"].erase("loadBalancer");
  }
}

Status ServiceAllocator::reallocate(nlohmann::json& svc, const nlohmann::json& old) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto& spec = svc["spec"];
    const auto& ospec = old["spec"];
    std::string type = spec.value("type", "ClusterIP"), otype = ospec.value("type", "ClusterIP");
    if (type == "ExternalName" && otype != "ExternalName") {
      // The address goes back to the range with the type that needed it.
      uint32_t ip;
      if (ospec.contains("clusterIP") && ospec["clusterIP"].is_string() &&
          parseIp(ospec["clusterIP"].get<std::string>(), &ip))
        ips_.erase(ip);
    } else if (type != "ExternalName" && otype == "ExternalName") {
      // A service that had no address gets one, as a new one would.
      lock.unlock();
      nlohmann::json fresh = svc;
      BERTH_RETURN_IF_ERROR(allocate(fresh));
      svc = std::move(fresh);
      return Status::ok();
    }
    // Keep the old cluster IP (immutable).
    if (type != "ExternalName" && ospec.contains("clusterIP") && !spec.contains("clusterIP"))
      spec["clusterIP"] = ospec["clusterIP"];
    if (type != "ExternalName" && ospec.contains("clusterIPs") && !spec.contains("clusterIPs"))
      spec["clusterIPs"] = ospec["clusterIPs"];
    std::map<int, int> old_ports;  // port -> nodePort
    if (ospec.contains("ports") && ospec["ports"].is_array())
      for (const auto& p : ospec["ports"])
        if (p.contains("nodePort")) old_ports[p.value("port", 0)] = p.value("nodePort", 0);
    std::set<int> keep;
    std::vector<int> taken;  // allocated by this update: given back if a later port fails
    if (needsNodePorts(svc) && spec.contains("ports") && spec["ports"].is_array()) {
      for (size_t i = 0; i < spec["ports"].size(); ++i) {
        auto& port = spec["ports"][i];
        int want = port.value("nodePort", 0);
        auto it = old_ports.find(port.value("port", 0));
        if (want == 0 && it != old_ports.end()) want = it->second;
        if (want == 0 && !autoNodePorts(svc)) {
          port.erase("nodePort");
          continue;
        }
        bool owned = false;
        for (auto& [_, np] : old_ports) owned |= (np == want);
        if (want && owned) {
          port["nodePort"] = want;
          keep.insert(want);
          continue;
        }
        auto p = allocatePort(want, i);
        if (!p.isOk()) {
          for (int t : taken) ports_.erase(t);
          return p.status();
        }
        taken.push_back(*p);
        port["nodePort"] = *p;
        keep.insert(*p);
      }
    } else if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& port : spec["ports"]) port.erase("nodePort");
    }
    for (auto& [_, np] : old_ports)
      if (!keep.count(np)) ports_.erase(np);
  }
  return Status::ok();
}

namespace {
// The cluster IP and node ports a Service holds, as written in its spec.
void heldBy(const nlohmann::json& svc, std::vector<uint32_t>* ips, std::vector<int>* ports) {
  if (!svc.contains("spec") || !svc["spec"].is_object()) return;
  const auto& spec = svc["spec"];
  uint32_t ip;
  if (spec.contains("clusterIP") && spec["clusterIP"].is_string() &&
      parseIp(spec["clusterIP"].get<std::string>(), &ip))
    ips->push_back(ip);
  if (spec.contains("ports") && spec["ports"].is_array())
    for (const auto& p : spec["ports"])
      if (p.contains("nodePort") && p["nodePort"].is_number_integer())
        ports->push_back(p["nodePort"].get<int>());
}
}  // namespace

void ServiceAllocator::release(const nlohmann::json& svc) {
  std::vector<uint32_t> ips;
  std::vector<int> ports;
  heldBy(svc, &ips, &ports);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto ip : ips) ips_.erase(ip);
  for (auto p : ports) ports_.erase(p);
}

void ServiceAllocator::restore(const nlohmann::json& svc) {
  std::vector<uint32_t> ips;
  std::vector<int> ports;
  heldBy(svc, &ips, &ports);
  std::lock_guard<std::mutex> lock(mu_);
  ips_.insert(ips.begin(), ips.end());
  ports_.insert(ports.begin(), ports.end());
}

}  // namespace berth::apiserver
