#include "cmd/nodegroup_cmd.h"

#include <cstdio>
#include <cstdlib>

#include "client/rest_client.h"
#include "common/strings.h"
#include "common/time_util.h"
#include "nodegroups/bootstrap/nodegroup_user_data.h"
#include "nodegroups/bootstrap/token.h"

namespace berth::cmd {

namespace {

namespace nb = nodegroups::bootstrap;

const char kNodegroupUsage[] = R"(Usage: berth nodegroup user-data NAME [flags]

Creates a bootstrap token for NodeGroup NAME and prints the user-data (a MIME multipart with an
EKS NodeConfig) that `berth agent --user-data FILE` joins the group with.

  --kubeconfig FILE       cluster to ask (default $KUBECONFIG, else ~/.kube/config); its server
                          and CA go into the user-data
  --ttl D                 token lifetime, e.g. 24h (default 24h)
  --capacity-type T       ON_DEMAND or SPOT (default: the group's spec.capacityType)
  --cluster-name N        spec.cluster.name (default berth)
  --service-cidr CIDR     the cluster's service CIDR (default 10.96.0.0/12)
)";

struct Flags {
  std::string name, kubeconfig, capacity_type, cluster_name = "berth", service_cidr = "10.96.0.0/12";
  std::chrono::seconds ttl = nb::kDefaultTokenTtl;
};

Result<Flags> parseFlags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string* out) -> Result<bool> {
      if (a == flag) {
        if (i + 1 >= args.size()) return badRequest("flag " + flag + " needs a value");
        *out = args[++i];
        return true;
      }
      if (startsWith(a, flag + "=")) {
        *out = a.substr(flag.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    bool hit = false;
    for (auto [flag, dst] : {std::pair<const char*, std::string*>{"--kubeconfig", &f.kubeconfig},
                             {"--capacity-type", &f.capacity_type},
                             {"--cluster-name", &f.cluster_name},
                             {"--service-cidr", &f.service_cidr}}) {
      BERTH_ASSIGN_OR_RETURN(hit, value(flag, dst));
      if (hit) break;
    }
    if (hit) continue;
    BERTH_ASSIGN_OR_RETURN(hit, value("--ttl", &v));
    if (hit) {
      std::chrono::nanoseconds d;
      if (!parseDuration(v, &d)) return badRequest("--ttl: expected a duration like 24h, got \"" + v + "\"");
      f.ttl = std::chrono::duration_cast<std::chrono::seconds>(d);
      continue;
    }
    if (startsWith(a, "-")) return badRequest("unknown flag \"" + a + "\"");
    if (!f.name.empty()) return badRequest("one NodeGroup name, got \"" + f.name + "\" and \"" + a + "\"");
    f.name = a;
  }
  if (f.name.empty()) return badRequest("the NodeGroup name is required");
  if (f.kubeconfig.empty()) {
    const char* env = std::getenv("KUBECONFIG");
    const char* home = std::getenv("HOME");
    f.kubeconfig = env && *env ? split(env, ':')[0] : std::string(home ? home : "") + "/.kube/config";
  }
  return f;
}

Result<std::string> userData(const Flags& f) {
  BERTH_ASSIGN_OR_RETURN(client::KubeConfig kc, client::loadKubeConfig(f.kubeconfig));
  if (kc.ca_pem.empty())
    return badRequest("kubeconfig " + f.kubeconfig + " has no certificate-authority(-data): nodes need the cluster CA");
  client::RestClient::Options co;
  co.user_agent = "berth-nodegroup";
  client::RestClient c(kc, co);
  static const client::Resource kNodeGroups{"berth.dev", "v1alpha1", "nodegroups", "NodeGroup", false, {}};
  auto ng = c.get(kNodeGroups, "", f.name);
  if (!ng.isOk()) return ng.status().withContext("reading NodeGroup " + f.name);
  BERTH_ASSIGN_OR_RETURN(nb::UserDataParams p, nb::nodeGroupUserDataParams(*ng, f.capacity_type));
  p.cluster_name = f.cluster_name;
  p.api_server_endpoint = kc.server;
  p.ca_pem = kc.ca_pem;
  p.service_cidr = f.service_cidr;
  nb::TokenOptions to;
  to.ttl = f.ttl;
  to.description = "bootstrap token for NodeGroup " + f.name + " (berth nodegroup user-data)";
  to.extra_groups = {"system:bootstrappers:nodegroup:" + f.name};
  BERTH_ASSIGN_OR_RETURN(nb::BootstrapToken token, nb::createBootstrapToken(c, to, SystemClock::instance()));
  p.bootstrap_token = token.str();
  return nb::renderUserData(p);
}

}  // namespace

int runNodegroup(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kNodegroupUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "user-data") {
    std::fprintf(stderr, "berth nodegroup: unknown command \"%s\"\n\n%s", args[0].c_str(), kNodegroupUsage);
    return 2;
  }
  auto flags = parseFlags({args.begin() + 1, args.end()});
  if (!flags.isOk()) {
    std::fprintf(stderr, "berth nodegroup user-data: %s\n\n%s", flags.status().message().c_str(), kNodegroupUsage);
    return 2;
  }
  auto ud = userData(*flags);
  if (!ud.isOk()) {
    std::fprintf(stderr, "berth nodegroup user-data: %s\n", ud.status().message().c_str());
    return 1;
  }
  std::fputs(ud->c_str(), stdout);
  return 0;
}

}  // namespace berth::cmd
