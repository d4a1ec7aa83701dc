#include "networking/local/network_state.h"

#include <nlohmann/json.hpp>

namespace berth::networking {

using nlohmann::json;

const SubnetState* NetworkState::findSubnet(const std::string& id) const {
  for (const SubnetState& s : subnets)
    if (s.subnet.id == id) return &s;
  return nullptr;
}

std::vector<std::string> NetworkState::usedAddresses() const {
  std::vector<std::string> out;
  if (!vpc.control_plane_ip.empty()) out.push_back(vpc.control_plane_ip);
  for (const NatState& n : nats) out.push_back(n.nat.private_ip);
  for (const auto& [id, i] : instances) out.push_back(i.ip);
  for (const auto& [name, lb] : load_balancers)
    for (const LbLegState& l : lb.legs) out.push_back(l.ip);
  return out;
}

namespace {

json specJson(const cloud::NetworkSpec& s) {
  json subnets = json::array();
  for (const auto& sub : s.subnets) subnets.push_back({{"zone", sub.zone}, {"cidr", sub.cidr}, {"public", sub.is_public}});
  return {{"cluster", s.cluster}, {"region", s.region}, {"vpcCidr", s.vpc_cidr}, {"zones", s.zones},
          {"subnets", subnets}, {"nat", toString(s.nat)}};
}

cloud::NetworkSpec specFrom(const json& j) {
  cloud::NetworkSpec s;
  s.cluster = j.value("cluster", "");
  s.region = j.value("region", "");
  s.vpc_cidr = j.value("vpcCidr", "");
  s.zones = j.value("zones", std::vector<std::string>{});
  for (const json& sub : j.value("subnets", json::array()))
    s.subnets.push_back({sub.value("zone", ""), sub.value("cidr", ""), sub.value("public", false)});
  auto nat = cloud::parseNatMode(j.value("nat", "Single"));
  s.nat = nat.isOk() ? *nat : cloud::NatMode::kSingle;
  return s;
}

json lbSpecJson(const cloud::LoadBalancerSpec& s) {
  json listeners = json::array();
  for (const auto& l : s.listeners) {
    json targets = json::array();
    for (const auto& t : l.targets) targets.push_back({{"ip", t.ip}, {"port", t.port}, {"zone", t.zone}});
    listeners.push_back({{"port", l.port}, {"protocol", l.protocol}, {"targets", targets}});
  }
  return {{"name", s.name}, {"listeners", listeners}, {"zones", s.zones}};
}

cloud::LoadBalancerSpec lbSpecFrom(const json& j) {
  cloud::LoadBalancerSpec s;
  s.name = j.value("name", "");
  s.zones = j.value("zones", std::vector<std::string>{});
  for (const json& l : j.value("listeners", json::array())) {
    cloud::LoadBalancerListener listener;
    listener.port = l.value("port", 0);
    listener.protocol = l.value("protocol", "TCP");
    for (const json& t : l.value("targets", json::array()))
      listener.targets.push_back({t.value("ip", ""), t.value("port", 0), t.value("zone", "")});
    s.listeners.push_back(std::move(listener));
  }
  return s;
}

}  // namespace

std::string toJson(const NetworkState& s) {
  json j;
  j["cluster"] = s.cluster;
  j["prefix"] = s.prefix;
  j["publicBlock"] = s.public_block;
  if (s.spec) j["spec"] = specJson(*s.spec);
  j["vpc"] = {{"id", s.vpc.id}, {"cidr", s.vpc.cidr}, {"state", s.vpc.state},
              {"controlPlaneIp", s.vpc.control_plane_ip}};
  j["controlPlaneSubnet"] = s.control_plane_subnet;
  j["subnets"] = json::array();
  for (const SubnetState& sub : s.subnets)
    j["subnets"].push_back({{"id", sub.subnet.id}, {"zone", sub.subnet.zone}, {"cidr", sub.subnet.cidr},
                            {"public", sub.subnet.is_public}, {"gateway", sub.subnet.gateway_ip},
                            {"bridge", sub.bridge}, {"table", sub.table}, {"natId", sub.nat_id}});
  j["nats"] = json::array();
  for (const NatState& n : s.nats)
    j["nats"].push_back({{"id", n.nat.id}, {"zone", n.nat.zone}, {"subnetId", n.nat.subnet_id},
                         {"publicIp", n.nat.public_ip}, {"privateIp", n.nat.private_ip},
                         {"state", n.nat.state}, {"netns", n.netns}, {"routerLink", n.router_link}});
  j["instances"] = json::object();
  for (const auto& [id, i] : s.instances)
    j["instances"][id] = {{"subnetId", i.subnet_id}, {"ip", i.ip}, {"netns", i.netns},
                          {"routerLink", i.router_link}};
  j["routes"] = s.routes;
  j["loadBalancers"] = json::object();
  for (const auto& [name, l] : s.load_balancers) {
    json legs = json::array();
    for (const LbLegState& leg : l.legs)
      legs.push_back({{"zone", leg.zone}, {"subnetId", leg.subnet_id}, {"ip", leg.ip},
                      {"routerLink", leg.router_link}, {"innerLink", leg.inner_link}});
    j["loadBalancers"][name] = {{"id", l.lb.id}, {"address", l.lb.address}, {"state", l.lb.state},
                                {"spec", lbSpecJson(l.spec)}, {"netns", l.netns}, {"legs", legs},
                                {"haproxyPid", l.haproxy_pid}};
  }
  j["nextLink"] = s.next_link;
  j["echoPid"] = s.echo_pid;
  return j.dump(2);
}

Result<NetworkState> networkStateFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    NetworkState s;
    s.cluster = j.value("cluster", "");
    s.prefix = j.value("prefix", "");
    s.public_block = j.value("publicBlock", "");
    if (j.contains("spec")) s.spec = specFrom(j["spec"]);
    const json v = j.value("vpc", json::object());
    s.vpc.id = v.value("id", "");
    s.vpc.cidr = v.value("cidr", "");
    s.vpc.state = v.value("state", "");
    s.vpc.control_plane_ip = v.value("controlPlaneIp", "");
    s.vpc.cluster = s.cluster;
    s.control_plane_subnet = j.value("controlPlaneSubnet", "");
    for (const json& sub : j.value("subnets", json::array())) {
      SubnetState st;
      st.subnet = {sub.value("id", ""), sub.value("zone", ""), sub.value("cidr", ""),
                   sub.value("public", false), sub.value("gateway", "")};
      st.bridge = sub.value("bridge", "");
      st.table = sub.value("table", 0);
      st.nat_id = sub.value("natId", "");
      s.subnets.push_back(std::move(st));
    }
    for (const json& n : j.value("nats", json::array())) {
      NatState st;
      st.nat = {n.value("id", ""), n.value("zone", ""), n.value("subnetId", ""),
                n.value("publicIp", ""), n.value("privateIp", ""), n.value("state", "")};
      st.netns = n.value("netns", "");
      st.router_link = n.value("routerLink", "");
      s.nats.push_back(std::move(st));
    }
    const json instances = j.value("instances", json::object());
    for (const auto& [id, i] : instances.items())
      s.instances[id] = {i.value("subnetId", ""), i.value("ip", ""), i.value("netns", ""),
                         i.value("routerLink", "")};
    s.routes = j.value("routes", std::map<std::string, std::string>{});
    const json lbs = j.value("loadBalancers", json::object());
    for (const auto& [name, l] : lbs.items()) {
      LoadBalancerState st;
      st.lb = {name, l.value("id", ""), l.value("address", ""), l.value("state", "")};
      st.spec = lbSpecFrom(l.value("spec", json::object()));
      st.netns = l.value("netns", "");
      for (const json& leg : l.value("legs", json::array()))
        st.legs.push_back({leg.value("zone", ""), leg.value("subnetId", ""), leg.value("ip", ""),
                           leg.value("routerLink", ""), leg.value("innerLink", "")});
      st.haproxy_pid = l.value("haproxyPid", 0);
      s.load_balancers[name] = std::move(st);
    }
    s.next_link = j.value("nextLink", 0);
    s.echo_pid = j.value("echoPid", 0);
    for (const SubnetState& sub : s.subnets) s.vpc.subnets.push_back(sub.subnet);
    for (const NatState& n : s.nats) s.vpc.nat_gateways.push_back(n.nat);
    return s;
  } catch (const std::exception& e) {
    return internalError(std::string("network state: ") + e.what());
  }
}

}  // namespace berth::networking
