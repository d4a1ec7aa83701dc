// berth.dev/v1alpha1 network kinds, cluster-scoped: what the cloud made for this cluster, as
// Berth publishes it (networking/network_objects.h), for `kubectl get vpcs,subnets,...`.
//
// VPC:          spec {cidr, region, zones: [..], natGateway: Disable|Single|HighlyAvailable}
//               status {vpcId, state, controlPlaneIP}
// Subnet:       spec {vpc, zone, cidr, public: bool}   status {subnetId, gatewayIP, state}
// NATGateway:   spec {vpc, zone, subnet}               status {natGatewayId, publicIP, privateIP, state}
// LoadBalancer: spec {service: ns/name, zones: [..], listeners: [{port, protocol: TCP,
//                     targets: [{ip, port, zone}]}]}
//               status {loadBalancerId, address, state}
#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "common/ipv4.h"
#include "common/strings.h"

namespace berth::apiserver::kinds {

namespace {

std::string orNone(std::string s) { return s.empty() ? "<none>" : s; }

void requireString(const json& obj, const std::string& path, std::initializer_list<std::string_view> keys,
                   Errors& errs) {
  if (str(obj, keys).empty()) errs.required(path);
}

void validateCidr(const json& obj, const std::string& path, std::initializer_list<std::string_view> keys,
                  Errors& errs) {
  const json* v = find(obj, keys);
  if (!v || !v->is_string() || v->get<std::string>().empty()) {
    errs.required(path);
    return;
  }
  auto c = parseCidr(v->get<std::string>());
  if (!c.isOk()) errs.invalid(path, *v, c.status().message());
}

void validatePort(const json* v, const std::string& path, Errors& errs) {
  if (!isInt(v) || v->get<int64_t>() < 1 || v->get<int64_t>() > 65535)
    errs.invalid(path, v ? *v : json(nullptr), "must be between 1 and 65535, inclusive");
}

KindSpec vpcKind() {
  KindSpec k = berthKind("VPC", "vpcs", "vpc");
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateCidr(obj, "spec.cidr", {"spec", "cidr"}, errs);
    std::string nat = str(obj, {"spec", "natGateway"});
    if (nat != "Disable" && nat != "Single" && nat != "HighlyAvailable")
      errs.notSupported("spec.natGateway", nat, {"Disable", "HighlyAvailable", "Single"});
    if (old && str(*old, {"spec", "cidr"}) != str(obj, {"spec", "cidr"}))
      errs.immutable("spec.cidr", str(obj, {"spec", "cidr"}));
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("VPC-ID", "string", "The cloud's id of the VPC."),
               column("CIDR", "string", "The VPC's address block."),
               column("NAT", "string", "NAT gateway mode."),
               column("Zones", "string", "Availability zones.", 1),
               column("Control-Plane-IP", "string", "The control plane's address inside the VPC."),
               column("State", "string", "available or pending."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), orNone(str(obj, {"status", "vpcId"})),
                             str(obj, {"spec", "cidr"}), str(obj, {"spec", "natGateway"}),
                             goStringSlice(find(obj, {"spec", "zones"})),
                             orNone(str(obj, {"status", "controlPlaneIP"})),
                             orNone(str(obj, {"status", "state"})), ageCell(obj, now)};
  };
  return k;
}

KindSpec subnetKind() {
  KindSpec k = berthKind("Subnet", "subnets", "subnet");
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    validateCidr(obj, "spec.cidr", {"spec", "cidr"}, errs);
    requireString(obj, "spec.zone", {"spec", "zone"}, errs);
    requireString(obj, "spec.vpc", {"spec", "vpc"}, errs);
    if (const json* p = find(obj, {"spec", "public"}); p && !p->is_boolean())
      errs.invalid("spec.public", *p, "must be true or false");
    if (old && str(*old, {"spec", "cidr"}) != str(obj, {"spec", "cidr"}))
      errs.immutable("spec.cidr", str(obj, {"spec", "cidr"}));
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Subnet-ID", "string", "The cloud's id of the subnet."),
               column("VPC", "string", "The VPC the subnet belongs to."),
               column("Zone", "string", "Availability zone."),
               column("CIDR", "string", "The subnet's address block."),
               column("Type", "string", "public (routes to the internet gateway) or private."),
               column("Gateway", "string", "The VPC router's address in the subnet.", 1),
               column("State", "string", "available or pending."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), orNone(str(obj, {"status", "subnetId"})),
                             str(obj, {"spec", "vpc"}), str(obj, {"spec", "zone"}), str(obj, {"spec", "cidr"}),
                             flag(obj, {"spec", "public"}) ? "public" : "private",
                             orNone(str(obj, {"status", "gatewayIP"})), orNone(str(obj, {"status", "state"})),
                             ageCell(obj, now)};
  };
  k.selectable_fields = {"spec.zone", "spec.vpc"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "spec.zone") return str(obj, {"spec", "zone"});
    if (f == "spec.vpc") return str(obj, {"spec", "vpc"});
    return "";
  };
  return k;
}

KindSpec natGatewayKind() {
  KindSpec k = berthKind("NATGateway", "natgateways", "natgateway");
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    requireString(obj, "spec.vpc", {"spec", "vpc"}, errs);
    requireString(obj, "spec.zone", {"spec", "zone"}, errs);
    requireString(obj, "spec.subnet", {"spec", "subnet"}, errs);
    for (const char* f : {"publicIP", "privateIP"}) {
      std::string ip = str(obj, {"status", f});
      if (!ip.empty() && !parseIpv4(ip).isOk())
        errs.invalid(std::string("status.") + f, ip, "must be an IPv4 address");
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("NAT-ID", "string", "The cloud's id of the NAT gateway."),
               column("Zone", "string", "Availability zone."),
               column("Subnet", "string", "The public subnet holding the gateway."),
               column("Public-IP", "string", "The source address the outside sees."),
               column("Private-IP", "string", "The gateway's address in its subnet.", 1),
               column("State", "string", "available, pending or deleted."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    return std::vector<json>{str(obj, {"metadata", "name"}), orNone(str(obj, {"status", "natGatewayId"})),
                             str(obj, {"spec", "zone"}), str(obj, {"spec", "subnet"}),
                             orNone(str(obj, {"status", "publicIP"})), orNone(str(obj, {"status", "privateIP"})),
                             orNone(str(obj, {"status", "state"})), ageCell(obj, now)};
  };
  return k;
}

KindSpec loadBalancerKind() {
  KindSpec k = berthKind("LoadBalancer", "loadbalancers", "loadbalancer");
  k.short_names = {"lb"};
  k.validate = [](const json& obj, const json*) {
    Errors errs;
    const json* ls = find(obj, {"spec", "listeners"});
    if (ls && !ls->is_array()) errs.invalid("spec.listeners", *ls, "must be a list");
    for (size_t i = 0; ls && ls->is_array() && i < ls->size(); ++i) {
      const json& l = (*ls)[i];
      std::string lp = at("spec", "listeners", i);
      validatePort(find(l, {"port"}), at(lp, "port"), errs);
      std::string proto = str(l, {"protocol"});
      if (!proto.empty() && proto != "TCP") errs.notSupported(at(lp, "protocol"), proto, {"TCP"});
      const json* ts = find(l, {"targets"});
      for (size_t j = 0; ts && ts->is_array() && j < ts->size(); ++j) {
        std::string tp = at(lp, "targets", j);
        std::string ip = str((*ts)[j], {"ip"});
        if (!parseIpv4(ip).isOk()) errs.invalid(at(tp, "ip"), ip, "must be an IPv4 address");
        validatePort(find((*ts)[j], {"port"}), at(tp, "port"), errs);
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("LB-ID", "string", "The cloud's id of the load balancer."),
               column("Service", "string", "The Service of type LoadBalancer it serves."),
               column("Address", "string", "Where clients connect (Service status.loadBalancer.ingress)."),
               column("Ports", "string", "Listener ports."),
               column("Targets", "integer", "Targets behind the listeners."),
               column("Zones", "string", "Zones whose public subnets carry it.", 1),
               column("State", "string", "active or provisioning."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<std::string> ports;
    int64_t targets = 0;
    if (const json* ls = find(obj, {"spec", "listeners"}); ls && ls->is_array())
      for (const json& l : *ls) {
        ports.push_back(std::to_string(num(l, {"port"})) + "/" + (str(l, {"protocol"}).empty() ? "TCP" : str(l, {"protocol"})));
        targets += static_cast<int64_t>(count(l, {"targets"}));
      }
    return std::vector<json>{str(obj, {"metadata", "name"}), orNone(str(obj, {"status", "loadBalancerId"})),
                             orNone(str(obj, {"spec", "service"})), orNone(str(obj, {"status", "address"})),
                             ports.empty() ? "<none>" : join(ports, ","), targets,
                             goStringSlice(find(obj, {"spec", "zones"})), orNone(str(obj, {"status", "state"})),
                             ageCell(obj, now)};
  };
  return k;
}

}  // namespace

void registerNetworkKinds(KindRegistry& reg) {
  reg.add(vpcKind());
  reg.add(subnetKind());
  reg.add(natGatewayKind());
  reg.add(loadBalancerKind());
}

}  // namespace berth::apiserver::kinds
