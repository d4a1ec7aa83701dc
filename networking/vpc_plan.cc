#include "networking/vpc_plan.h"

#include <set>

#include "common/ipv4.h"

namespace berth::networking {

namespace {

constexpr char kDefaultCidr[] = "192.168.0.0/16";
constexpr int kMinVpcPrefix = 16;
constexpr int kMaxVpcPrefix = 24;
constexpr int kMaxSubnetPrefix = 28;  // AWS's smallest subnet

Status fieldError(const std::string& field, const std::string& msg) {
  return invalid(field + ": " + msg).withCause({"FieldValueInvalid", msg, field});
}

Result<Ipv4Cidr> parseVpcCidr(const std::string& given) {
  const std::string field = "vpc.cidr";
  auto c = parseCidr(given.empty() ? kDefaultCidr : given);
  if (!c.isOk()) return fieldError(field, c.status().message());
  if (c->prefix < kMinVpcPrefix || c->prefix > kMaxVpcPrefix)
    return fieldError(field, "prefix /" + std::to_string(c->prefix) + " of " + given +
                                 " is out of range (want /" + std::to_string(kMinVpcPrefix) +
                                 " to /" + std::to_string(kMaxVpcPrefix) + ")");
  return *c;
}

Status checkZones(const std::vector<std::string>& zones) {
  if (zones.empty()) return fieldError("availabilityZones", "at least one zone is required");
  std::set<std::string> seen;
  for (const std::string& z : zones) {
    if (z.empty()) return fieldError("availabilityZones", "a zone name is empty");
    if (!seen.insert(z).second) return fieldError("availabilityZones", "zone " + z + " is listed twice");
  }
  return Status::ok();
}

// eksctl's carving: 2 x zones subnets in blocks of prefix+3 (up to 8) or prefix+4 (up to 16),
// public ones first.
Result<std::vector<cloud::SubnetSpec>> carve(const Ipv4Cidr& vpc, const std::vector<std::string>& zones) {
  size_t count = 2 * zones.size();
  if (count > 16)
    return fieldError("availabilityZones",
                      std::to_string(zones.size()) + " zones need " + std::to_string(count) +
                          " subnets; vpc.cidr can be carved into at most 16 (8 zones)");
  int sub_prefix = vpc.prefix + (count <= 8 ? 3 : 4);
  if (sub_prefix > kMaxSubnetPrefix)
    return fieldError("vpc.cidr", vpc.toString() + " is too small for " + std::to_string(count) +
                                      " subnets of at least /" + std::to_string(kMaxSubnetPrefix));
  uint64_t block = uint64_t{1} << (32 - sub_prefix);
  std::vector<cloud::SubnetSpec> out;
  for (size_t i = 0; i < count; ++i) {
    cloud::SubnetSpec s;
    s.zone = zones[i % zones.size()];
    s.is_public = i < zones.size();
    s.cidr = Ipv4Cidr{vpc.at(i * block), sub_prefix}.toString();
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<cloud::SubnetSpec>> checkGiven(const Ipv4Cidr& vpc, const std::vector<std::string>& zones,
                                                  const VpcConfig& cfg) {
  std::set<std::string> zone_set(zones.begin(), zones.end());
  std::vector<cloud::SubnetSpec> out;
  std::vector<std::pair<Ipv4Cidr, std::string>> seen;  // block, field
  for (bool is_public : {true, false}) {
    const auto& given = is_public ? cfg.public_subnets : cfg.private_subnets;
    for (const auto& [zone, cidr] : given) {
      std::string field = std::string("vpc.subnets.") + (is_public ? "public." : "private.") + zone;
      if (!zone_set.count(zone))
        return fieldError(field, "zone " + zone + " is not in availabilityZones");
      auto c = parseCidr(cidr);
      if (!c.isOk()) return fieldError(field + ".cidr", c.status().message());
      if (!vpc.contains(*c))
        return fieldError(field + ".cidr", cidr + " is not inside the VPC's " + vpc.toString());
      if (c->prefix > kMaxSubnetPrefix)
        return fieldError(field + ".cidr", cidr + " is smaller than /" + std::to_string(kMaxSubnetPrefix));
      for (const auto& [other, other_field] : seen)
        if (other.overlaps(*c))
          return fieldError(field + ".cidr", cidr + " overlaps " + other_field + " (" + other.toString() + ")");
      seen.emplace_back(*c, field + ".cidr");
      out.push_back({zone, c->toString(), is_public});
    }
  }
  return out;
}

}  // namespace

Result<cloud::NetworkSpec> planNetwork(const std::string& cluster, const std::string& region,
                                       const std::vector<std::string>& zones, const VpcConfig& vpc) {
  BERTH_RETURN_IF_ERROR(checkZones(zones));
  BERTH_ASSIGN_OR_RETURN(Ipv4Cidr cidr, parseVpcCidr(vpc.cidr));
  auto nat = cloud::parseNatMode(vpc.nat_gateway.empty() ? "Single" : vpc.nat_gateway);
  if (!nat.isOk()) return fieldError("vpc.nat.gateway", nat.status().message());

  cloud::NetworkSpec spec;
  spec.cluster = cluster;
  spec.region = region;
  spec.vpc_cidr = cidr.toString();
  spec.zones = zones;
  spec.nat = *nat;
  if (vpc.public_subnets.empty() && vpc.private_subnets.empty()) {
    BERTH_ASSIGN_OR_RETURN(spec.subnets, carve(cidr, zones));
  } else {
    BERTH_ASSIGN_OR_RETURN(spec.subnets, checkGiven(cidr, zones, vpc));
  }
  bool has_private = false, has_public = false;
  for (const cloud::SubnetSpec& s : spec.subnets) (s.is_public ? has_public : has_private) = true;
  if (spec.nat != cloud::NatMode::kDisable && has_private && !has_public)
    return fieldError("vpc.nat.gateway", std::string(toString(spec.nat)) +
                                             " needs a public subnet to hold the NAT gateway");
  return spec;
}

}  // namespace berth::networking
