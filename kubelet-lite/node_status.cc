#include "kubelet-lite/node_status.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/strings.h"

namespace berth::kubelet {
namespace {

std::string readFirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return std::string(trim(line));
}

std::string osPrettyName() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (startsWith(line, "PRETTY_NAME=")) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string goArch(const std::string& machine) {
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "armv7l") return "arm";
  return machine;
}

std::string firstIpv4() {
  struct ifaddrs* ifs = nullptr;
  std::string ip = "127.0.0.1";
  if (getifaddrs(&ifs) != 0) return ip;
  for (auto* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK)) continue;
    if (!(i->ifa_flags & IFF_UP)) continue;
    char buf[INET_ADDRSTRLEN];
    auto* sin = reinterpret_cast<struct sockaddr_in*>(i->ifa_addr);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) {
      ip = buf;
      break;
    }
  }
  freeifaddrs(ifs);
  return ip;
}

json condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, TimePoint now, TimePoint since) {
  return {{"type", type},
          {"status", status},
          {"lastHeartbeatTime", formatRfc3339(now)},
          {"lastTransitionTime", formatRfc3339(since)},
          {"reason", reason},
          {"message", message}};
}

Result<int64_t> parseQuantity(const std::string& flag, const std::string& s, bool cpu) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return badRequest(flag + ": invalid quantity \"" + s + "\"");
  double v = 0;
  try {
    v = std::stod(s.substr(0, i));
  } catch (...) {
    return badRequest(flag + ": invalid quantity \"" + s + "\"");
  }
  std::string suf = s.substr(i);
  static const std::map<std::string, double> kMult = {
      {"", 1},           {"k", 1e3},          {"M", 1e6},          {"G", 1e9},
      {"T", 1e12},       {"Ki", 1024.0},      {"Mi", 1048576.0},   {"Gi", 1073741824.0},
      {"Ti", 1099511627776.0}};
  if (cpu) {
    if (suf == "m") return static_cast<int64_t>(v);
    if (suf.empty()) return static_cast<int64_t>(v * 1000);
    return badRequest(flag + ": invalid cpu quantity \"" + s + "\" (use 4 or 500m)");
  }
  auto it = kMult.find(suf);
  if (it == kMult.end()) return badRequest(flag + ": invalid quantity suffix in \"" + s + "\"");
  return static_cast<int64_t>(v * it->second);
}

}  // namespace

HostFacts detectHost(const std::string& root_dir) {
  HostFacts h;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  h.cpus = n > 0 ? n : 1;
  h.memory_bytes = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  struct statvfs vfs;
  if (statvfs(root_dir.c_str(), &vfs) == 0 || statvfs("/", &vfs) == 0)
    h.ephemeral_storage_bytes = static_cast<int64_t>(vfs.f_blocks) * vfs.f_frsize;
  struct utsname u;
  if (uname(&u) == 0) {
    h.kernel_version = u.release;
    h.architecture = goArch(u.machine);
    h.hostname = u.nodename;
  }
  h.os_image = osPrettyName();
  h.machine_id = readFirstLine("/etc/machine-id");
  h.boot_id = readFirstLine("/proc/sys/kernel/random/boot_id");
  h.internal_ip = firstIpv4();
  return h;
}

json nodeConditions(TimePoint now, TimePoint ready_since) {
  return json::array(
      {condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available", now, ready_since),
       condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                 "kubelet has no disk pressure", now, ready_since),
       condition("PIDPressure", "False", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available", now, ready_since),
       condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now,
                 ready_since)});
}

json nodeStatusPatch(const NodeIdentity& id, TimePoint now, TimePoint ready_since) {
  json resources = {{"cpu", formatCpu(id.cpu_millis)},
                    {"memory", formatBytesKi(id.memory_bytes)},
                    {"ephemeral-storage", formatBytesKi(id.ephemeral_storage_bytes)},
                    {"pods", std::to_string(id.max_pods)}};
  json addresses = json::array({{{"type", "InternalIP"}, {"address", id.internal_ip}},
                                {{"type", "Hostname"}, {"address", id.name}}});
  json info = {{"kernelVersion", id.host.kernel_version},
               {"osImage", id.host.os_image},
               {"containerRuntimeVersion", id.runtime_version},
               {"kubeletVersion", "v1.32.0-berth"},
               {"kubeProxyVersion", ""},
               {"architecture", id.host.architecture},
               {"operatingSystem", "linux"},
               {"machineID", id.host.machine_id},
               {"systemUUID", id.host.machine_id},
               {"bootID", id.host.boot_id}};
  json conditions = nodeConditions(now, ready_since);
  if (id.extra_conditions) {
    for (const json& c : id.extra_conditions(now)) conditions.push_back(c);
  }
  return {{"status",
           {{"capacity", resources},
            {"allocatable", resources},
            {"addresses", addresses},
            {"nodeInfo", info},
            {"conditions", conditions},
            {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", id.kubelet_port}}}}}}}};
}

json buildNode(const NodeIdentity& id, TimePoint now) {
  json labels = {{"kubernetes.io/hostname", id.name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", id.host.architecture},
                 {"beta.kubernetes.io/os", "linux"},
                 {"beta.kubernetes.io/arch", id.host.architecture}};
  if (!id.zone.empty()) labels["topology.kubernetes.io/zone"] = id.zone;
  if (!id.region.empty()) labels["topology.kubernetes.io/region"] = id.region;
  if (!id.instance_type.empty()) labels["node.kubernetes.io/instance-type"] = id.instance_type;
  for (const auto& [k, v] : id.extra_labels) labels[k] = v;
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", id.name},
                 {"labels", labels},
                 {"annotations", {{"node.alpha.kubernetes.io/ttl", "0"}}}}},
               {"spec", json::object()}};
  if (!id.taints.empty()) node["spec"]["taints"] = id.taints;
  if (!id.provider_id.empty()) node["spec"]["providerID"] = id.provider_id;
  if (!id.pod_cidr.empty()) {
    node["spec"]["podCIDR"] = id.pod_cidr;
    node["spec"]["podCIDRs"] = json::array({id.pod_cidr});
  }
  node["status"] = nodeStatusPatch(id, now, now)["status"];
  return node;
}

Result<int64_t> parseCpuMillis(const std::string& s) { return parseQuantity("cpu", s, true); }
Result<int64_t> parseBytes(const std::string& s) { return parseQuantity("memory", s, false); }

std::string formatCpu(int64_t millis) {
  if (millis % 1000 == 0) return std::to_string(millis / 1000);
  return std::to_string(millis) + "m";
}

std::string formatBytesKi(int64_t bytes) {
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + "Ki";
  return std::to_string(bytes);
}

std::string podCidrForIndex(int index) {
  return "10." + std::to_string(244 + index / 256) + "." + std::to_string(index % 256) + ".0/24";
}

int firstFreePodCidrIndex(const std::vector<std::string>& used) {
  std::set<std::string> u(used.begin(), used.end());
  int i = 0;
  while (u.count(podCidrForIndex(i))) ++i;
  return i;
}

int podCidrIndex(const std::string& cidr) {
  unsigned b = 0, c = 0;
  int consumed = 0;
  if (std::sscanf(cidr.c_str(), "10.%u.%u.0/24%n", &b, &c, &consumed) != 2 ||
      consumed != static_cast<int>(cidr.size()) || b < 244 || b > 255 || c > 255)
    return -1;
  int index = static_cast<int>((b - 244) * 256 + c);
  return podCidrForIndex(index) == cidr ? index : -1;
}

std::vector<int> assignPodCidrIndexes(const std::vector<std::string>& ours, const json& nodes) {
  std::map<std::string, std::string> existing;  // node name -> podCIDR
  std::set<int> taken;
  for (const auto& n : nodes) {
    if (!n.is_object()) continue;
    const json& spec = n.contains("spec") ? n["spec"] : json::object();
    std::string cidr = spec.is_object() ? spec.value("podCIDR", "") : "";
    if (cidr.empty()) continue;
    std::string name = n.contains("metadata") && n["metadata"].is_object()
                           ? n["metadata"].value("name", "") : "";
    existing[name] = cidr;
    int idx = podCidrIndex(cidr);
    if (idx >= 0) taken.insert(idx);
  }
  std::vector<int> out(ours.size(), -1);
  for (size_t i = 0; i < ours.size(); ++i) {
    auto it = existing.find(ours[i]);
    if (it != existing.end()) out[i] = podCidrIndex(it->second);
  }
  int next = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    if (out[i] >= 0) continue;
    while (taken.count(next)) ++next;
    out[i] = next;
    taken.insert(next);
  }
  return out;
}

std::string podIpInCidr(const std::string& cidr, int host) {
  if (!endsWith(cidr, ".0/24")) return "";
  return cidr.substr(0, cidr.size() - 4) + std::to_string(host);
}

}  // namespace berth::kubelet
