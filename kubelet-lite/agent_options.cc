#include "kubelet-lite/agent_options.h"

#include <cstdlib>

#include "common/log.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "kubelet-lite/node_status.h"
#include "nodegroups/bootstrap/user_data.h"

namespace berth::kubelet {

const char kAgentUsage[] = R"(Usage: berth agent --kubeconfig FILE --runtime runc|process|simulated [flags]

  --kubeconfig FILE          how to reach the API server (required without --user-data)
  --user-data FILE           join from an EKS NodeConfig (plain or MIME multipart): run its
                             shell parts, get a client certificate with its bootstrap token
                             into <root-dir>/<node>/kubelet.kubeconfig, apply its labels,
                             taints, max pods and provider id
  --bootstrap-timeout D      how long to wait for the certificate (default 5m)
  --runtime R                runc, process (host processes) or simulated (required)
  --node-name N              node name (default: host name; simulated: with --nodes 1)
  --zone Z                   topology.kubernetes.io/zone
  --region R                 topology.kubernetes.io/region
  --instance-type T          node.kubernetes.io/instance-type
  --provider-id ID           Node spec.providerID (e.g. local:///local-1a/i-0123456789abcdef0)
  --cloud-metadata           watch the instance metadata endpoint for a spot interruption
                             notice and record it on the Node (condition SpotInterruption)
  --labels k=v,...           extra node labels
  --register-with-taints T   taints the Node is created with, key=value:Effect,... (as the
                             kubelet's flag)
  --root-dir DIR             pod logs and volumes (default /var/lib/berth-agent)
  --node-ip IP               InternalIP address (default: the host's first IPv4)
  --cpu N                    cpu capacity, e.g. 4 or 3500m (default: the host's)
  --memory Q                 memory capacity, e.g. 8Gi (default: the host's)
  --max-pods N               pods capacity (default 110)
  --kubelet-port PORT        HTTPS port for logs/exec/port-forward, 0 picks one (default 10250)
  --insecure-registry H:P    pull from this registry over plain HTTP (repeatable; loopback
                             registries always may)
  --registry-mirror FROM=TO  pull images named FROM/... from registry TO, keeping their names,
                             e.g. localhost:5000=10.0.0.2:5000 (repeatable)
  --proxy-mode M             Service proxy: nftables or none (default nftables with runc, else none)
  --cluster-dns IP           nameserver of ClusterFirst pods (default: kube-system/kube-dns's IP)
  --cluster-domain D         cluster DNS domain (default cluster.local)
Simulated mode:
  --nodes N                  how many nodes this process plays (default 1)
  --zones a,b,c              zones the nodes are spread over, round robin
  --node-name-prefix P       node names are P0, P1, ... (default sim-node-)
  --delete-nodes-on-exit     delete the simulated Node objects on SIGTERM
  --sync-workers N           pod status writers (default 4)
  -v N                       log verbosity (default 2)
)";

namespace {

// Reads "--name value" and "--name=value"; a flag missing its value is an error().
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size() || !error_.isOk(); }
  const std::string& current() const { return args_[i_]; }
  void next() { ++i_; }
  const Status& error() const { return error_; }
  bool take(const std::string& name, std::string* out) {
    const std::string& a = args_[i_];
    if (a == name) {
      if (i_ + 1 >= args_.size()) {
        error_ = badRequest("flag " + name + " needs a value");
        return false;
      }
      *out = args_[++i_];
      return true;
    }
    if (startsWith(a, name + "=")) {
      *out = a.substr(name.size() + 1);
      return true;
    }
    return false;
  }

 private:
  const std::vector<std::string>& args_;
  size_t i_ = 0;
  Status error_;
};

Result<int64_t> positiveInt(const std::string& flag, const std::string& v, int64_t max) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n <= 0 || n > max)
    return badRequest(flag + ": expected an integer in 1.." + std::to_string(max) + ", got \"" + v + "\"");
  return static_cast<int64_t>(n);
}

Result<std::map<std::string, std::string>> parseLabels(const std::string& v) {
  std::map<std::string, std::string> out;
  for (const auto& kv : split(v, ',')) {
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return badRequest("--labels: expected key=value, got \"" + kv + "\"");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// A registry host[:port] as image names carry it: no scheme, no path, a port in 1..65535.
Status checkRegistry(const std::string& flag, const std::string& v) {
  std::string what = flag + ": expected HOST:PORT, got \"" + v + "\"";
  if (v.empty() || v.find("://") != std::string::npos)
    return badRequest(what + (v.empty() ? "" : " (no scheme: plain HTTP is what the flag allows)"));
  if (v.find('/') != std::string::npos || v.find_first_of(" \t=,") != std::string::npos)
    return badRequest(what);
  auto colon = v.rfind(':');
  if (colon == 0) return badRequest(what);
  if (colon != std::string::npos && v.find(']', colon) == std::string::npos) {
    std::string port = v.substr(colon + 1);
    char* end = nullptr;
    long n = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end || n < 1 || n > 65535) return badRequest(what + ": bad port");
  }
  return Status::ok();
}

}  // namespace

Result<AgentOptions> parseAgentOptions(const std::vector<std::string>& args, bool* help) {
  AgentOptions o;
  *help = false;
  Flags f(args);
  for (; !f.done(); f.next()) {
    std::string v;
    auto take = [&](const char* name) { return f.take(name, &v); };
    if (take("--kubeconfig")) o.kubeconfig = v;
    else if (take("--user-data")) o.user_data = v;
    else if (take("--bootstrap-timeout")) {
      std::chrono::nanoseconds d;
      if (!parseDuration(v, &d) || d.count() <= 0)
        return badRequest("--bootstrap-timeout: expected a duration like 5m, got \"" + v + "\"");
      o.bootstrap_timeout_seconds = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
    }
    else if (take("--runtime")) o.runtime = v;
    else if (take("--node-name")) o.node_name = v;
    else if (take("--zone")) o.zone = v;
    else if (take("--region")) o.region = v;
    else if (take("--instance-type")) o.instance_type = v;
    else if (take("--provider-id")) o.provider_id = v;
    else if (take("--root-dir")) o.root_dir = v;
    else if (take("--node-ip")) o.node_ip = v;
    else if (take("--node-name-prefix")) o.node_name_prefix = v;
    else if (take("--proxy-mode")) o.proxy_mode = v;
    else if (take("--cluster-dns")) o.cluster_dns = v;
    else if (take("--cluster-domain")) o.cluster_domain = v;
    else if (take("--labels")) {
      BERTH_ASSIGN_OR_RETURN(o.labels, parseLabels(v));
    } else if (take("--register-with-taints")) {
      auto taints = nodegroups::bootstrap::parseTaints(v);
      if (!taints.isOk()) return badRequest("--register-with-taints: " + taints.status().message());
      for (const auto& t : *taints) o.taints.push_back({t.key, t.value, t.effect});
    } else if (take("--cpu")) {
      BERTH_ASSIGN_OR_RETURN(o.cpu_millis, parseCpuMillis(v));
    } else if (take("--memory")) {
      BERTH_ASSIGN_OR_RETURN(o.memory_bytes, parseBytes(v));
    } else if (take("--max-pods")) {
      BERTH_ASSIGN_OR_RETURN(o.max_pods, positiveInt("--max-pods", v, 100000));
    } else if (take("--kubelet-port")) {
      // 0 picks a free port (several agents on one machine).
      BERTH_ASSIGN_OR_RETURN(int64_t p, v == "0" ? Result<int64_t>(int64_t{0})
                                                 : positiveInt("--kubelet-port", v, 65535));
      o.kubelet_port = static_cast<int>(p);
    } else if (take("--nodes")) {
      BERTH_ASSIGN_OR_RETURN(int64_t n, positiveInt("--nodes", v, 100000));
      o.nodes = static_cast<int>(n);
    } else if (take("--sync-workers")) {
      BERTH_ASSIGN_OR_RETURN(int64_t n, positiveInt("--sync-workers", v, 64));
      o.sync_workers = static_cast<int>(n);
    } else if (take("--insecure-registry")) {
      BERTH_RETURN_IF_ERROR(checkRegistry("--insecure-registry", v));
      o.insecure_registries.push_back(v);
    } else if (take("--registry-mirror")) {
      auto eq = v.find('=');
      if (eq == std::string::npos)
        return badRequest("--registry-mirror: expected FROM=TO, got \"" + v + "\"");
      std::string from = v.substr(0, eq), to = v.substr(eq + 1);
      BERTH_RETURN_IF_ERROR(checkRegistry("--registry-mirror FROM", from));
      BERTH_RETURN_IF_ERROR(checkRegistry("--registry-mirror TO", to));
      if (from == to) return badRequest("--registry-mirror: " + from + " mirrors itself");
      if (!o.registry_mirrors.emplace(from, to).second)
        return badRequest("--registry-mirror: " + from + " is given two mirrors");
    } else if (take("--zones")) {
      for (const auto& z : split(v, ','))
        if (!z.empty()) o.zones.push_back(z);
    } else if (take("-v") || take("--v")) {
      log::setVerbosity(std::atoi(v.c_str()));
    } else if (f.current() == "--cloud-metadata") {
      o.cloud_metadata = true;
    } else if (f.current() == "--delete-nodes-on-exit") {
      o.delete_nodes_on_exit = true;
    } else if (f.current() == "-h" || f.current() == "--help") {
      *help = true;
      return o;
    } else if (f.error().isOk()) {
      return badRequest("unknown flag \"" + f.current() + "\"");
    }
  }
  BERTH_RETURN_IF_ERROR(f.error());
  if (o.kubeconfig.empty() && o.user_data.empty()) return badRequest("--kubeconfig or --user-data is required");
  if (o.runtime != "runc" && o.runtime != "process" && o.runtime != "simulated")
    return badRequest("--runtime must be runc, process or simulated, got \"" + o.runtime + "\"");
  if (o.proxy_mode.empty()) o.proxy_mode = o.runtime == "runc" ? "nftables" : "none";
  if (o.proxy_mode != "nftables" && o.proxy_mode != "none")
    return badRequest("--proxy-mode must be nftables or none, got \"" + o.proxy_mode + "\"");
  if (o.proxy_mode == "nftables" && o.runtime == "simulated")
    return badRequest("--proxy-mode nftables needs a real runtime (runc or process)");
  if (o.cluster_domain.empty()) return badRequest("--cluster-domain must not be empty");
  if (o.runtime != "simulated" && o.nodes != 1)
    return badRequest("--nodes is only for --runtime simulated");
  if (o.region.empty() && !o.zone.empty() && o.zone.size() > 1) {
    // Zone names end with a letter after the region: local-1a -> local-1.
    o.region = o.zone.substr(0, o.zone.size() - 1);
  }
  return o;
}

}  // namespace berth::kubelet
