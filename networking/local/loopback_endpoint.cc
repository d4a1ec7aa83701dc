#include "networking/local/loopback_endpoint.h"

#include "common/strings.h"
#include "common/subprocess.h"
#include "networking/local/kernel_ops.h"

namespace berth::networking {

namespace {

// The host interface that carries `ip` (the VPC leg).
Result<std::string> interfaceWithAddress(const std::string& ip) {
  BERTH_ASSIGN_OR_RETURN(std::string out, runChecked({"ip", "-o", "-4", "addr", "show", "to", ip}));
  // "7: bd290bhc    inet 192.168.96.4/19 ..."
  auto fields = split(std::string(trim(out)), ' ');
  std::vector<std::string> words;
  for (const auto& f : fields)
    if (!f.empty()) words.push_back(f);
  if (words.size() < 2) return notFound("no host interface has the address " + ip);
  std::string name = words[1];
  if (auto at = name.find('@'); at != std::string::npos) name.resize(at);
  return name;
}

}  // namespace

std::string loopbackEndpointTable(const std::string& cluster) { return "berth-" + cluster + "-vpce"; }

Status ensureLoopbackEndpoints(const std::string& cluster, const std::string& control_plane_ip,
                               const std::vector<int>& ports) {
  BERTH_ASSIGN_OR_RETURN(std::string leg, interfaceWithAddress(control_plane_ip));
  BERTH_RETURN_IF_ERROR(sysctlIn("", "net.ipv4.conf." + leg + ".route_localnet", "1"));
  std::string table = loopbackEndpointTable(cluster);
  std::string script = "table inet " + table + " {}\ndelete table inet " + table + "\n" +
                       "table inet " + table + " {\n  chain prerouting {\n" +
                       "    type nat hook prerouting priority dstnat; policy accept;\n";
  for (int port : ports) {
    if (port < 1 || port > 65535) return invalid("loopback endpoint port " + std::to_string(port) + " is out of range");
    std::string p = std::to_string(port);
    script += "    iifname \"" + leg + "\" ip daddr " + control_plane_ip + " tcp dport " + p +
              " dnat ip to 127.0.0.1:" + p + "\n";
  }
  script += "  }\n}\n";
  return nftIn("", script).withContext("loopback endpoints of cluster " + cluster);
}

Status deleteLoopbackEndpoints(const std::string& cluster) {
  return deleteNftTable("", loopbackEndpointTable(cluster));
}

}  // namespace berth::networking
