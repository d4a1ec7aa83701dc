#include "networking/network_objects.h"

namespace berth::networking {

using client::json;

const client::Resource kVpcResource{"berth.dev", "v1alpha1", "vpcs", "VPC", false, {}};
const client::Resource kSubnetResource{"berth.dev", "v1alpha1", "subnets", "Subnet", false, {}};
const client::Resource kNatGatewayResource{"berth.dev", "v1alpha1", "natgateways", "NATGateway", false, {}};
const client::Resource kLoadBalancerResource{"berth.dev", "v1alpha1", "loadbalancers", "LoadBalancer", false, {}};

namespace {

constexpr char kClusterLabel[] = "berth.dev/cluster";

// Creates or updates one object so that its spec and status are the given ones.
Status upsert(client::Client& c, const client::Resource& r, const std::string& name, const std::string& cluster,
              const json& spec, const json& status) {
  auto existing = c.get(r, "", name);
  json obj;
  if (existing.isOk()) {
    obj = *existing;
    bool spec_same = obj.value("spec", json()) == spec;
    bool label_same = obj["metadata"].value("labels", json::object()).value(kClusterLabel, "") == cluster;
    if (!spec_same || !label_same) {
      obj["spec"] = spec;
      obj["metadata"]["labels"][kClusterLabel] = cluster;
      BERTH_ASSIGN_OR_RETURN(obj, c.update(r, "", name, obj));
    }
  } else if (existing.status().code() == Code::kNotFound) {
    json fresh = {{"apiVersion", r.groupVersion()}, {"kind", r.kind},
                  {"metadata", {{"name", name}, {"labels", {{kClusterLabel, cluster}}}}}, {"spec", spec}};
    BERTH_ASSIGN_OR_RETURN(obj, c.create(r, "", fresh));
  } else {
    return existing.status().withContext("get " + r.resource + "/" + name);
  }
  if (obj.value("status", json()) == status) return Status::ok();
  obj["status"] = status;
  return c.update(r, "", name, obj, "status").status().withContext("update " + r.resource + "/" + name + "/status");
}

std::string subnetName(const cloud::Subnet& s) { return s.zone + (s.is_public ? "-public" : "-private"); }

}  // namespace

Status publishNetwork(client::Client& c, const cloud::Vpc& vpc, const cloud::NetworkSpec& spec) {
  const std::string& cluster = vpc.cluster;
  BERTH_RETURN_IF_ERROR(upsert(c, kVpcResource, cluster, cluster,
                               {{"cidr", vpc.cidr}, {"region", spec.region}, {"zones", spec.zones},
                                {"natGateway", cloud::toString(spec.nat)}},
                               {{"vpcId", vpc.id}, {"state", vpc.state}, {"controlPlaneIP", vpc.control_plane_ip}}));
  std::map<std::string, std::string> subnet_names;  // id -> object name
  for (const cloud::Subnet& s : vpc.subnets) {
    subnet_names[s.id] = subnetName(s);
    BERTH_RETURN_IF_ERROR(upsert(c, kSubnetResource, subnetName(s), cluster,
                                 {{"vpc", cluster}, {"zone", s.zone}, {"cidr", s.cidr}, {"public", s.is_public}},
                                 {{"subnetId", s.id}, {"gatewayIP", s.gateway_ip}, {"state", "available"}}));
  }
  for (const cloud::NatGateway& n : vpc.nat_gateways)
    BERTH_RETURN_IF_ERROR(upsert(c, kNatGatewayResource, "nat-" + n.zone, cluster,
                                 {{"vpc", cluster}, {"zone", n.zone}, {"subnet", subnet_names[n.subnet_id]}},
                                 {{"natGatewayId", n.id}, {"publicIP", n.public_ip}, {"privateIP", n.private_ip},
                                  {"state", n.state}}));
  return Status::ok();
}

Status publishLoadBalancer(client::Client& c, const std::string& cluster, const cloud::LoadBalancer& lb,
                           const cloud::LoadBalancerSpec& spec, const std::string& service) {
  json listeners = json::array();
  for (const cloud::LoadBalancerListener& l : spec.listeners) {
    json targets = json::array();
    for (const cloud::LoadBalancerTarget& t : l.targets)
      targets.push_back({{"ip", t.ip}, {"port", t.port}, {"zone", t.zone}});
    listeners.push_back({{"port", l.port}, {"protocol", l.protocol}, {"targets", targets}});
  }
  return upsert(c, kLoadBalancerResource, lb.name, cluster,
                {{"service", service}, {"zones", spec.zones}, {"listeners", listeners}},
                {{"loadBalancerId", lb.id}, {"address", lb.address}, {"state", lb.state}});
}

Status unpublishLoadBalancer(client::Client& c, const std::string& name) {
  auto r = c.remove(kLoadBalancerResource, "", name);
  if (!r.isOk() && r.status().code() != Code::kNotFound) return r.status();
  return Status::ok();
}

}  // namespace berth::networking
