// berth net create|describe|delete|attach|detach|route|lb-ensure|lb-delete|lb-list|echo-server
#include "cmd/net_cmd.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "networking/local/echo_server.h"
#include "client/rest_client.h"
#include "networking/local/local_network.h"
#include "networking/network_objects.h"
#include "networking/vpc_plan.h"

namespace berth::cmd {

namespace {

using nlohmann::json;

constexpr const char* kNetUsage = R"(berth net: drive one cluster's local network (root)

  berth net create --cluster C [--state-dir D] [--zones a,b,c] [--cidr CIDR] [--nat MODE]
                   [--public zone=cidr,...] [--private zone=cidr,...] [--kubeconfig K]
                   (--kubeconfig: also publish vpcs/subnets/natgateways to that API server)
  berth net describe|delete --cluster C [--state-dir D]
  berth net attach --cluster C --instance ID --subnet SUBNET_ID   prints "IP NETNS"
  berth net detach --cluster C --instance ID
  berth net route --cluster C --cidr CIDR (--instance ID | --delete)
  berth net lb-ensure --cluster C --name N --listener PORT=IP:PORT[@ZONE],... [--listener ...]
  berth net lb-delete --cluster C --name N
  berth net lb-list --cluster C
  berth net echo-server --listen ADDR:PORT
The state dir defaults to $BERTH_STATE_DIR (or /var/lib/berth/clusters)/<cluster>/cloud.
)";

struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() || it->second.empty() ? def : it->second.back();
  }
  bool has(const std::string& k) const { return values.count(k) > 0; }
};

Result<Flags> parseFlags(const std::vector<std::string>& args) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!startsWith(a, "--")) return invalid("unexpected argument \"" + a + "\"");
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      f.values[a.substr(2, eq - 2)].push_back(a.substr(eq + 1));
    } else if (a == "--delete") {
      f.values["delete"].push_back("true");
    } else if (i + 1 < args.size()) {
      f.values[a.substr(2)].push_back(args[++i]);
    } else {
      return invalid("flag " + a + " needs a value");
    }
  }
  return f;
}

Result<std::map<std::string, std::string>> zoneMap(const std::string& flag, const std::string& v) {
  std::map<std::string, std::string> out;
  for (const std::string& item : split(v, ',')) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) return invalid("--" + flag + ": want zone=cidr, got \"" + item + "\"");
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

// "80=10.0.0.4:30080@local-1a,10.0.0.5:30080@local-1b"
Result<cloud::LoadBalancerListener> parseListener(const std::string& v) {
  cloud::LoadBalancerListener l;
  size_t eq = v.find('=');
  if (eq == std::string::npos) return invalid("--listener: want PORT=IP:PORT[@ZONE],..., got \"" + v + "\"");
  l.port = std::atoi(v.substr(0, eq).c_str());
  for (const std::string& t : split(v.substr(eq + 1), ',')) {
    if (t.empty()) continue;
    cloud::LoadBalancerTarget target;
    std::string addr = t;
    if (size_t at = t.find('@'); at != std::string::npos) {
      target.zone = t.substr(at + 1);
      addr = t.substr(0, at);
    }
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) return invalid("--listener: target \"" + t + "\" wants IP:PORT");
    target.ip = addr.substr(0, colon);
    target.port = std::atoi(addr.substr(colon + 1).c_str());
    l.targets.push_back(target);
  }
  return l;
}

json vpcJson(const cloud::Vpc& v) {
  json subnets = json::array(), nats = json::array();
  for (const auto& s : v.subnets)
    subnets.push_back({{"id", s.id}, {"zone", s.zone}, {"cidr", s.cidr}, {"public", s.is_public},
                       {"gateway", s.gateway_ip}});
  for (const auto& n : v.nat_gateways)
    nats.push_back({{"id", n.id}, {"zone", n.zone}, {"subnetId", n.subnet_id}, {"publicIp", n.public_ip},
                    {"privateIp", n.private_ip}, {"state", n.state}});
  return {{"id", v.id}, {"cluster", v.cluster}, {"cidr", v.cidr}, {"state", v.state},
          {"controlPlaneIp", v.control_plane_ip}, {"subnets", subnets}, {"natGateways", nats}};
}

int fail(const Status& st) {
  std::fprintf(stderr, "berth net: %s\n", st.message().c_str());
  return 1;
}

int create(networking::LocalNetwork& net, const Flags& f) {
  networking::VpcConfig cfg;
  cfg.cidr = f.get("cidr");
  cfg.nat_gateway = f.get("nat");
  auto pub = zoneMap("public", f.get("public"));
  if (!pub.isOk()) return fail(pub.status());
  auto priv = zoneMap("private", f.get("private"));
  if (!priv.isOk()) return fail(priv.status());
  cfg.public_subnets = *pub;
  cfg.private_subnets = *priv;
  std::vector<std::string> zones;
  for (const std::string& z : split(f.get("zones", "local-1a,local-1b,local-1c"), ','))
    if (!z.empty()) zones.push_back(z);
  auto spec = networking::planNetwork(f.get("cluster"), f.get("region", "local-1"), zones, cfg);
  if (!spec.isOk()) return fail(spec.status());
  auto vpc = net.ensureNetwork(*spec);
  if (!vpc.isOk()) return fail(vpc.status());
  if (f.has("kubeconfig")) {
    auto rc = client::RestClient::fromKubeconfig(f.get("kubeconfig"));
    if (!rc.isOk()) return fail(rc.status());
    Status st = networking::publishNetwork(**rc, *vpc, *spec);
    if (!st.isOk()) return fail(st);
  }
  std::printf("%s\n", vpcJson(*vpc).dump(2).c_str());
  return 0;
}

int lbEnsure(networking::LocalNetwork& net, const Flags& f) {
  cloud::LoadBalancerSpec spec;
  spec.name = f.get("name");
  if (f.has("listener"))
    for (const std::string& v : f.values.at("listener")) {
      auto l = parseListener(v);
      if (!l.isOk()) return fail(l.status());
      spec.listeners.push_back(*l);
    }
  for (const std::string& z : split(f.get("zones"), ','))
    if (!z.empty()) spec.zones.push_back(z);
  auto lb = net.ensureLoadBalancer(spec);
  if (!lb.isOk()) return fail(lb.status());
  std::printf("%s\n", lb->address.c_str());
  return 0;
}

int dispatch(const std::string& sub, networking::LocalNetwork& net, const Flags& f) {
  if (sub == "create") return create(net, f);
  if (sub == "describe") {
    auto vpc = net.describeNetwork();
    if (!vpc.isOk()) return fail(vpc.status());
    std::printf("%s\n", vpcJson(*vpc).dump(2).c_str());
    return 0;
  }
  if (sub == "delete") {
    Status st = net.deleteNetwork();
    return st.isOk() ? 0 : fail(st);
  }
  if (sub == "attach") {
    std::string netns;
    auto ip = net.attachInstance(f.get("instance"), f.get("subnet"), &netns);
    if (!ip.isOk()) return fail(ip.status());
    std::printf("%s %s\n", ip->c_str(), netns.c_str());
    return 0;
  }
  if (sub == "detach") {
    Status st = net.detachInstance(f.get("instance"));
    return st.isOk() ? 0 : fail(st);
  }
  if (sub == "route") {
    Status st = f.has("delete") ? net.deleteRoute(f.get("cidr")) : net.ensureRoute(f.get("cidr"), f.get("instance"));
    return st.isOk() ? 0 : fail(st);
  }
  if (sub == "lb-ensure") return lbEnsure(net, f);
  if (sub == "lb-delete") {
    Status st = net.deleteLoadBalancer(f.get("name"));
    return st.isOk() ? 0 : fail(st);
  }
  if (sub == "lb-list") {
    auto lbs = net.listLoadBalancers();
    if (!lbs.isOk()) return fail(lbs.status());
    for (const auto& lb : *lbs)
      std::printf("%s %s %s %s\n", lb.name.c_str(), lb.id.c_str(), lb.address.c_str(), lb.state.c_str());
    return 0;
  }
  std::fprintf(stderr, "berth net: unknown subcommand \"%s\"\n\n%s", sub.c_str(), kNetUsage);
  return 2;
}

}  // namespace

int runNet(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kNetUsage, stdout);
    return args.empty() ? 2 : 0;
  }
  auto f = parseFlags({args.begin() + 1, args.end()});
  if (!f.isOk()) return fail(f.status());
  if (args[0] == "echo-server") return fail(networking::runEchoServer(f->get("listen")));
  std::string cluster = f->get("cluster");
  if (cluster.empty()) return fail(invalid("--cluster is required"));
  std::string dir = f->get("state-dir");
  if (dir.empty()) {
    const char* root = std::getenv("BERTH_STATE_DIR");
    dir = std::string(root && *root ? root : "/var/lib/berth/clusters") + "/" + cluster + "/cloud";
  }
  auto net = networking::LocalNetwork::open({.cluster = cluster, .state_dir = dir});
  if (!net.isOk()) return fail(net.status());
  return dispatch(args[0], **net, *f);
}

}  // namespace berth::cmd
