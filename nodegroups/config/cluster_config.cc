#include "nodegroups/config/cluster_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "apiserver/schema/validate.h"
#include "common/strings.h"
#include "nodegroups/catalogue/catalogue.h"

namespace berth::nodegroups::config {

using json = nlohmann::json;

namespace {

// eksctl fields Berth knows of but does not act on: a warning says "not supported by Berth".
// Anything else unknown is "unknown field". Both are ignored, never silently.
const std::set<std::string> kEksctlTopLevel = {
    "iam", "accessConfig", "addons", "addonsConfig", "kubernetesNetworkConfig", "privateCluster",
    "cloudWatch", "secretsEncryption", "karpenter", "autoModeConfig", "localZones", "outpost",
    "identityProviders", "gitops", "zonalShiftConfig", "remoteNetworkConfig", "status"};
const std::set<std::string> kEksctlGroupFields = {
    "ami", "iam", "ssh", "securityGroups", "volumeType", "volumeIOPS", "volumeThroughput",
    "volumeEncrypted", "volumeKmsKeyID", "volumeName", "subnets", "instancePrefix", "instanceName",
    "overrideBootstrapCommand", "disableIMDSv1", "disablePodIMDS", "propagateASGTags",
    "instanceSelector", "placement", "efaEnabled", "capacityReservation", "instanceMarketOptions",
    "bottlerocket", "enableDetailedMonitoring", "asgSuspendProcesses", "releaseVersion",
    "launchTemplate", "nodeRepairConfig", "targetGroupARNs", "classicLoadBalancerNames",
    "asgMetricsCollection", "cpuCredits", "kubeletExtraConfig", "clusterDNS", "maxInstanceLifetime",
    "containerRuntime", "additionalVolumes", "outpostARN", "localZones", "securityGroupsIDs",
    "withAddonPolicies", "amiFamilyVersion", "updateStrategy"};
const std::vector<std::string> kAmiFamilies = {"AmazonLinux2023", "AmazonLinux2", "Bottlerocket",
                                               "Ubuntu2204", "Ubuntu2404"};
const std::vector<std::string> kTaintEffects = {"NoSchedule", "PreferNoSchedule", "NoExecute"};
const std::vector<std::string> kSpotStrategies = {"lowest-price", "capacity-optimized",
                                                  "capacity-optimized-prioritized",
                                                  "price-capacity-optimized"};

Status fieldError(const std::string& path, const std::string& msg) {
  return invalid(path + ": " + msg).withCause({"FieldValueInvalid", msg, path});
}

std::string q(const std::string& s) { return "\"" + s + "\""; }

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A YAML mapping being read: remembers the keys taken so the rest become warnings.
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // The value of `key`, or null when absent or null.
  const json* take(const std::string& key) {
    taken_.insert(key);
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool has(const std::string& key) const {
    auto it = obj_.find(key);
    return it != obj_.end() && !it->is_null();
  }
  // Warns about every key not taken; `known` names the eksctl fields Berth does not support.
  void warnRest(const std::set<std::string>& known, std::vector<std::string>* warnings) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (taken_.count(it.key())) continue;
      warnings->push_back(at(it.key()) + (known.count(it.key())
                                              ? ": not supported by Berth; ignored"
                                              : ": unknown field; ignored"));
    }
  }

 private:
  const json& obj_;
  std::string path_;
  std::set<std::string> taken_;
};

Status needObject(const json& v, const std::string& path) {
  if (!v.is_object()) return fieldError(path, "must be a mapping");
  return Status::ok();
}

Status readString(Fields& f, const std::string& key, std::string* out) {
  const json* v = f.take(key);
  if (!v) return Status::ok();
  if (!v->is_string()) return fieldError(f.at(key), "must be a string");
  *out = v->get<std::string>();
  return Status::ok();
}

Status readBool(Fields& f, const std::string& key, bool* out) {
  const json* v = f.take(key);
  if (!v) return Status::ok();
  if (!v->is_boolean()) return fieldError(f.at(key), "must be true or false");
  *out = v->get<bool>();
  return Status::ok();
}

Status readInt(Fields& f, const std::string& key, int lo, int hi, std::optional<int>* out) {
  const json* v = f.take(key);
  if (!v) return Status::ok();
  if (!v->is_number_integer()) return fieldError(f.at(key), "must be an integer");
  int64_t n = v->get<int64_t>();
  if (n < lo || n > hi) {
    return fieldError(f.at(key), "must be between " + std::to_string(lo) + " and " +
                                     std::to_string(hi) + ", got " + std::to_string(n));
  }
  *out = static_cast<int>(n);
  return Status::ok();
}

// A scalar as a string: YAML's unquoted numbers and booleans read as their text.
bool scalarText(const json& v, std::string* out) {
  if (v.is_string()) *out = v.get<std::string>();
  else if (v.is_boolean()) *out = v.get<bool>() ? "true" : "false";
  else if (v.is_number_integer()) *out = std::to_string(v.get<int64_t>());
  else if (v.is_number()) *out = v.dump();
  else return false;
  return true;
}

Status readStringList(Fields& f, const std::string& key, std::vector<std::string>* out) {
  const json* v = f.take(key);
  if (!v) return Status::ok();
  if (!v->is_array()) return fieldError(f.at(key), "must be a list of strings");
  out->clear();
  for (size_t i = 0; i < v->size(); ++i) {
    std::string s;
    if (!scalarText((*v)[i], &s)) {
      return fieldError(f.at(key) + "[" + std::to_string(i) + "]", "must be a string");
    }
    out->push_back(s);
  }
  return Status::ok();
}

Status readStringMap(const json& v, const std::string& path,
                     std::map<std::string, std::string>* out) {
  if (!v.is_object()) return fieldError(path, "must be a mapping of strings");
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string s;
    if (it->is_null()) s.clear();
    else if (!scalarText(*it, &s)) return fieldError(path + "." + it.key(), "must be a string");
    (*out)[it.key()] = s;
  }
  return Status::ok();
}

Status readStringMap(Fields& f, const std::string& key, std::map<std::string, std::string>* out) {
  const json* v = f.take(key);
  if (!v) return Status::ok();
  return readStringMap(*v, f.at(key), out);
}

bool isDnsLabel(const std::string& s, size_t max) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return !s.empty() && s.size() <= max && std::regex_match(s, re);
}

bool isDnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

// Label keys and values as Kubernetes checks them ([prefix/]name, 63-character names).
Status checkLabels(const std::map<std::string, std::string>& labels, const std::string& path) {
  static const std::regex name_re("([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?");
  for (const auto& [k, v] : labels) {
    std::string name = k;
    if (size_t slash = k.find('/'); slash != std::string::npos) {
      if (!isDnsSubdomain(k.substr(0, slash))) {
        return fieldError(path + "." + k, "label key prefix must be a DNS subdomain");
      }
      name = k.substr(slash + 1);
    }
    if (name.empty() || name.size() > 63 || !std::regex_match(name, name_re)) {
      return fieldError(path + "." + k,
                        "label key must be 63 characters or less, alphanumerics, '-', '_' or '.'");
    }
    if (v.size() > 63 || !std::regex_match(v, name_re)) {
      return fieldError(path + "." + k, "invalid label value " + q(v) +
                                            ": 63 characters or less, alphanumerics, '-', '_' or '.'");
    }
  }
  return Status::ok();
}

Status parseTaint(const json& t, const std::string& path, Taint* out) {
  BERTH_RETURN_IF_ERROR(needObject(t, path));
  Fields f(t, path);
  BERTH_RETURN_IF_ERROR(readString(f, "key", &out->key));
  BERTH_RETURN_IF_ERROR(readString(f, "value", &out->value));
  BERTH_RETURN_IF_ERROR(readString(f, "effect", &out->effect));
  if (out->key.empty()) return fieldError(f.at("key"), "required");
  std::vector<std::string> ignored;
  f.warnRest({}, &ignored);
  if (!ignored.empty()) return fieldError(path, "a taint has only key, value and effect");
  return Status::ok();
}

// taints: a list of {key, value, effect}, or (self-managed groups) eksctl's legacy map
// `key: "value:Effect"`.
Status readTaints(Fields& f, bool managed, std::vector<Taint>* out) {
  const json* v = f.take("taints");
  if (!v) return Status::ok();
  std::string path = f.at("taints");
  if (v->is_array()) {
    for (size_t i = 0; i < v->size(); ++i) {
      Taint t;
      BERTH_RETURN_IF_ERROR(parseTaint((*v)[i], path + "[" + std::to_string(i) + "]", &t));
      out->push_back(t);
    }
  } else if (v->is_object() && !managed) {
    for (auto it = v->begin(); it != v->end(); ++it) {
      std::string s;
      if (!scalarText(*it, &s) || s.find(':') == std::string::npos) {
        return fieldError(path + "." + it.key(), "must be \"value:Effect\"");
      }
      size_t colon = s.rfind(':');
      out->push_back({it.key(), s.substr(0, colon), s.substr(colon + 1)});
    }
  } else {
    return fieldError(path, managed ? "must be a list of {key, value, effect}"
                                    : "must be a list of {key, value, effect} or a map of "
                                      "key: \"value:Effect\"");
  }
  for (size_t i = 0; i < out->size(); ++i) {
    const Taint& t = (*out)[i];
    if (!contains(kTaintEffects, t.effect)) {
      return fieldError(path + "[" + std::to_string(i) + "].effect",
                        "unsupported value " + q(t.effect) +
                            ": want NoSchedule, PreferNoSchedule or NoExecute");
    }
  }
  return Status::ok();
}

// Every type must be in the instance-type catalogue; the error names the field (with the
// index when `indexed`) and the nearest valid names.
Status checkInstanceTypes(const std::string& path, const std::vector<std::string>& types,
                          bool indexed = true) {
  for (size_t i = 0; i < types.size(); ++i) {
    auto t = nodegroups::lookupInstanceType(types[i]);
    if (!t.isOk()) {
      return fieldError(indexed ? path + "[" + std::to_string(i) + "]" : path, t.status().message());
    }
  }
  return Status::ok();
}

Status readDistribution(const json& v, const std::string& path, InstancesDistribution* d,
                        std::vector<std::string>* warnings) {
  BERTH_RETURN_IF_ERROR(needObject(v, path));
  Fields f(v, path);
  BERTH_RETURN_IF_ERROR(readStringList(f, "instanceTypes", &d->instance_types));
  if (d->instance_types.empty()) return fieldError(f.at("instanceTypes"), "required (at least one type)");
  BERTH_RETURN_IF_ERROR(checkInstanceTypes(f.at("instanceTypes"), d->instance_types));
  if (const json* mp = f.take("maxPrice")) {
    if (!mp->is_number() || mp->get<double>() <= 0) {
      return fieldError(f.at("maxPrice"), "must be a positive number");
    }
    d->max_price = mp->get<double>();
  }
  std::optional<int> n;
  BERTH_RETURN_IF_ERROR(readInt(f, "onDemandBaseCapacity", 0, 100000, &n));
  if (n) d->on_demand_base_capacity = *n;
  n.reset();
  BERTH_RETURN_IF_ERROR(readInt(f, "onDemandPercentageAboveBaseCapacity", 0, 100, &n));
  if (n) d->on_demand_percentage_above_base_capacity = *n;
  n.reset();
  BERTH_RETURN_IF_ERROR(readInt(f, "spotInstancePools", 1, 20, &n));
  if (n) d->spot_instance_pools = *n;
  BERTH_RETURN_IF_ERROR(readString(f, "spotAllocationStrategy", &d->spot_allocation_strategy));
  if (!d->spot_allocation_strategy.empty() &&
      !contains(kSpotStrategies, d->spot_allocation_strategy)) {
    return fieldError(f.at("spotAllocationStrategy"),
                      "unsupported value " + q(d->spot_allocation_strategy) + ": want " +
                          join(kSpotStrategies, ", "));
  }
  if (n && !d->spot_allocation_strategy.empty() && d->spot_allocation_strategy != "lowest-price") {
    return fieldError(f.at("spotInstancePools"),
                      "only with spotAllocationStrategy lowest-price (as in EC2)");
  }
  BERTH_RETURN_IF_ERROR(readBool(f, "capacityRebalance", &d->capacity_rebalance));
  f.warnRest({}, warnings);
  return Status::ok();
}

Status readSizes(Fields& f, NodeGroupConfig* g) {
  std::optional<int> desired, min, max;
  BERTH_RETURN_IF_ERROR(readInt(f, "desiredCapacity", 0, 1000, &desired));
  BERTH_RETURN_IF_ERROR(readInt(f, "minSize", 0, 1000, &min));
  BERTH_RETURN_IF_ERROR(readInt(f, "maxSize", 0, 1000, &max));
  // eksctl: desired defaults to minSize, else 2 (no more than maxSize); minSize to desired;
  // maxSize to the larger of the two.
  g->desired = desired ? *desired : min ? *min : max ? std::min(2, *max) : 2;
  g->min = min ? *min : g->desired;
  g->max = max ? *max : std::max(g->desired, g->min);
  if (g->max < 1) return fieldError(f.at("maxSize"), "must be at least 1");
  if (min && g->min > g->max) {
    return fieldError(f.at("minSize"), "must be less than or equal to maxSize (" +
                                           std::to_string(g->max) + "), got " +
                                           std::to_string(g->min));
  }
  if (g->desired < g->min || g->desired > g->max) {
    return fieldError(f.at("desiredCapacity"),
                      "must lie between minSize (" + std::to_string(g->min) + ") and maxSize (" +
                          std::to_string(g->max) + "), got " + std::to_string(g->desired));
  }
  return Status::ok();
}

Status readUpdateConfig(Fields& f, NodeGroupConfig* g, std::vector<std::string>* warnings) {
  const json* v = f.take("updateConfig");
  if (!v) return Status::ok();
  std::string path = f.at("updateConfig");
  BERTH_RETURN_IF_ERROR(needObject(*v, path));
  Fields u(*v, path);
  BERTH_RETURN_IF_ERROR(readInt(u, "maxUnavailable", 1, 100, &g->max_unavailable));
  BERTH_RETURN_IF_ERROR(
      readInt(u, "maxUnavailablePercentage", 1, 100, &g->max_unavailable_percentage));
  if (g->max_unavailable && g->max_unavailable_percentage) {
    return fieldError(path, "maxUnavailable and maxUnavailablePercentage cannot both be set");
  }
  u.warnRest({}, warnings);
  return Status::ok();
}

// The fields managed and self-managed groups share, then each kind's own.
Status readGroup(const json& v, const std::string& path, bool managed,
                 const std::vector<std::string>& cluster_zones, NodeGroupConfig* g,
                 std::vector<std::string>* warnings) {
  BERTH_RETURN_IF_ERROR(needObject(v, path));
  Fields f(v, path);
  g->managed = managed;
  BERTH_RETURN_IF_ERROR(readString(f, "name", &g->name));
  if (g->name.empty()) return fieldError(f.at("name"), "required");
  if (!isDnsLabel(g->name, 63)) {
    return fieldError(f.at("name"), "invalid name " + q(g->name) +
                                        ": lower case alphanumerics and '-', at most 63 "
                                        "characters (it names the NodeGroup object)");
  }
  std::string instance_type;
  BERTH_RETURN_IF_ERROR(readString(f, "instanceType", &instance_type));
  std::vector<std::string> types;
  if (managed) {
    BERTH_RETURN_IF_ERROR(readStringList(f, "instanceTypes", &types));
    if (!instance_type.empty() && !types.empty()) {
      return fieldError(f.at("instanceTypes"), "cannot be set together with instanceType");
    }
    BERTH_RETURN_IF_ERROR(checkInstanceTypes(f.at("instanceTypes"), types));
    if (f.has("instancesDistribution")) {
      return fieldError(f.at("instancesDistribution"),
                        "only for nodeGroups; managed groups use spot and instanceTypes");
    }
    BERTH_RETURN_IF_ERROR(readBool(f, "spot", &g->spot));
  } else {
    if (f.has("instanceTypes")) {
      return fieldError(f.at("instanceTypes"),
                        "only for managedNodeGroups; use instancesDistribution.instanceTypes");
    }
    if (f.has("spot")) {
      return fieldError(f.at("spot"), "only for managedNodeGroups; use instancesDistribution");
    }
    if (const json* d = f.take("instancesDistribution")) {
      InstancesDistribution dist;
      BERTH_RETURN_IF_ERROR(readDistribution(*d, f.at("instancesDistribution"), &dist, warnings));
      if (!instance_type.empty() && instance_type != "mixed") {
        return fieldError(f.at("instanceType"),
                          "must be \"mixed\" or unset with instancesDistribution");
      }
      types = dist.instance_types;
      g->instances_distribution = dist;
    }
  }
  if (instance_type == "mixed" && !g->instances_distribution) {
    return fieldError(f.at("instanceType"), "\"mixed\" needs instancesDistribution");
  }
  if (!instance_type.empty() && instance_type != "mixed") {
    BERTH_RETURN_IF_ERROR(checkInstanceTypes(f.at("instanceType"), {instance_type}, false));
  }
  if (types.empty()) types = {instance_type.empty() ? "m5.large" : instance_type};
  g->instance_types = types;
  BERTH_RETURN_IF_ERROR(readSizes(f, g));
  BERTH_RETURN_IF_ERROR(readStringMap(f, "labels", &g->labels));
  BERTH_RETURN_IF_ERROR(checkLabels(g->labels, f.at("labels")));
  BERTH_RETURN_IF_ERROR(readTaints(f, managed, &g->taints));
  BERTH_RETURN_IF_ERROR(readBool(f, "privateNetworking", &g->private_networking));
  BERTH_RETURN_IF_ERROR(readStringList(f, "availabilityZones", &g->zones));
  for (size_t i = 0; i < g->zones.size(); ++i) {
    if (!contains(cluster_zones, g->zones[i])) {
      return fieldError(f.at("availabilityZones") + "[" + std::to_string(i) + "]",
                        "zone " + q(g->zones[i]) + " is not one of the cluster's "
                        "availabilityZones (" + join(cluster_zones, ", ") + ")");
    }
  }
  if (g->zones.empty()) g->zones = cluster_zones;
  BERTH_RETURN_IF_ERROR(readUpdateConfig(f, g, warnings));
  BERTH_RETURN_IF_ERROR(readStringList(f, "preBootstrapCommands", &g->pre_bootstrap_commands));
  std::optional<int> n;
  BERTH_RETURN_IF_ERROR(readInt(f, "maxPodsPerNode", 1, 10000, &n));
  if (n) g->max_pods_per_node = *n;
  n.reset();
  BERTH_RETURN_IF_ERROR(readInt(f, "volumeSize", 1, 65536, &n));
  if (n) g->volume_size = *n;
  BERTH_RETURN_IF_ERROR(readString(f, "amiFamily", &g->ami_family));
  if (g->ami_family.empty()) g->ami_family = "AmazonLinux2023";
  if (!contains(kAmiFamilies, g->ami_family)) {
    return fieldError(f.at("amiFamily"), "unsupported value " + q(g->ami_family) +
                                             ": want " + join(kAmiFamilies, ", "));
  }
  BERTH_RETURN_IF_ERROR(readStringMap(f, "tags", &g->tags));
  f.warnRest(kEksctlGroupFields, warnings);
  return Status::ok();
}

Status readMetadata(const json* v, const ParseOptions& opts, ClusterConfig* c,
                    std::vector<std::string>* warnings) {
  if (!v) return fieldError("metadata.name", "required");
  BERTH_RETURN_IF_ERROR(needObject(*v, "metadata"));
  Fields f(*v, "metadata");
  BERTH_RETURN_IF_ERROR(readString(f, "name", &c->name));
  if (c->name.empty()) return fieldError("metadata.name", "required");
  static const std::regex name_re("[a-z]([-a-z0-9]*[a-z0-9])?");
  if (c->name.size() > opts.max_name_length || !std::regex_match(c->name, name_re)) {
    return fieldError("metadata.name",
                      "invalid name " + q(c->name) + ": lower case letters, digits and '-', "
                      "starting with a letter, at most " + std::to_string(opts.max_name_length) +
                      " characters (the local cloud names namespaces and links after it)");
  }
  BERTH_RETURN_IF_ERROR(readString(f, "region", &c->region));
  if (c->region.empty()) c->region = opts.default_region;
  static const std::regex region_re("[a-z0-9]+(-[a-z0-9]+)*");
  if (!std::regex_match(c->region, region_re)) {
    return fieldError("metadata.region", "invalid region " + q(c->region));
  }
  if (const json* ver = f.take("version")) {
    if (!ver->is_string()) {
      return fieldError("metadata.version",
                        "must be a string such as \"1.32\" (quote it: YAML reads 1.30 as 1.3)");
    }
    c->version = ver->get<std::string>();
    static const std::regex ver_re("1\\.[0-9]+");
    if (!std::regex_match(c->version, ver_re)) {
      return fieldError("metadata.version",
                        "invalid version " + q(c->version) + ": want a minor such as \"1.32\"");
    }
  }
  if (c->version.empty()) c->version = opts.default_version;
  BERTH_RETURN_IF_ERROR(readStringMap(f, "tags", &c->tags));
  f.warnRest({"annotations", "forceUpdateVersion", "accountID"}, warnings);
  return Status::ok();
}

// vpc.subnets.public / private: maps keyed by zone (or an alias with `az:`), {id, cidr, az}.
Status readSubnets(const json& v, const std::string& path, std::map<std::string, std::string>* out,
                   std::vector<std::string>* warnings) {
  BERTH_RETURN_IF_ERROR(needObject(v, path));
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string sp = path + "." + it.key();
    BERTH_RETURN_IF_ERROR(needObject(*it, sp));
    Fields f(*it, sp);
    std::string cidr, az, id;
    BERTH_RETURN_IF_ERROR(readString(f, "cidr", &cidr));
    BERTH_RETURN_IF_ERROR(readString(f, "az", &az));
    BERTH_RETURN_IF_ERROR(readString(f, "id", &id));
    if (!id.empty()) warnings->push_back(sp + ".id: existing subnets are not supported by Berth; ignored");
    if (cidr.empty()) return fieldError(sp + ".cidr", "required (Berth creates every subnet)");
    std::string zone = az.empty() ? it.key() : az;
    if (out->count(zone)) return fieldError(sp, "a second subnet for zone " + q(zone));
    (*out)[zone] = cidr;
    f.warnRest({}, warnings);
  }
  return Status::ok();
}

Status readVpc(const json* v, ClusterConfig* c, std::vector<std::string>* warnings) {
  if (!v) return Status::ok();
  BERTH_RETURN_IF_ERROR(needObject(*v, "vpc"));
  Fields f(*v, "vpc");
  BERTH_RETURN_IF_ERROR(readString(f, "cidr", &c->vpc.cidr));
  if (const json* nat = f.take("nat")) {
    BERTH_RETURN_IF_ERROR(needObject(*nat, "vpc.nat"));
    Fields nf(*nat, "vpc.nat");
    BERTH_RETURN_IF_ERROR(readString(nf, "gateway", &c->vpc.nat_gateway));
    if (!c->vpc.nat_gateway.empty() && !cloud::parseNatMode(c->vpc.nat_gateway).isOk()) {
      return fieldError("vpc.nat.gateway", "unsupported value " + q(c->vpc.nat_gateway) +
                                               ": want Disable, Single or HighlyAvailable");
    }
    nf.warnRest({}, warnings);
  }
  if (const json* subnets = f.take("subnets")) {
    BERTH_RETURN_IF_ERROR(needObject(*subnets, "vpc.subnets"));
    Fields sf(*subnets, "vpc.subnets");
    if (const json* pub = sf.take("public")) {
      BERTH_RETURN_IF_ERROR(readSubnets(*pub, "vpc.subnets.public", &c->vpc.public_subnets, warnings));
    }
    if (const json* priv = sf.take("private")) {
      BERTH_RETURN_IF_ERROR(
          readSubnets(*priv, "vpc.subnets.private", &c->vpc.private_subnets, warnings));
    }
    sf.warnRest({}, warnings);
  }
  if (const json* ep = f.take("clusterEndpoints")) {
    BERTH_RETURN_IF_ERROR(needObject(*ep, "vpc.clusterEndpoints"));
    Fields ef(*ep, "vpc.clusterEndpoints");
    BERTH_RETURN_IF_ERROR(readBool(ef, "publicAccess", &c->endpoint_public_access));
    BERTH_RETURN_IF_ERROR(readBool(ef, "privateAccess", &c->endpoint_private_access));
    if (!c->endpoint_public_access && !c->endpoint_private_access) {
      return fieldError("vpc.clusterEndpoints", "publicAccess and privateAccess cannot both be false");
    }
    ef.warnRest({}, warnings);
  }
  BERTH_RETURN_IF_ERROR(readStringList(f, "publicAccessCIDRs", &c->public_access_cidrs));
  if (f.has("id")) {
    f.take("id");
    warnings->push_back("vpc.id: using an existing VPC is not supported by Berth; ignored");
  }
  f.warnRest({"ipv6Cidr", "ipv6Pool", "extraCIDRs", "extraIPv6CIDRs", "securityGroup",
              "sharedNodeSecurityGroup", "manageSharedNodeSecurityGroupRules", "hostnameType",
              "controlPlaneSubnetIDs", "controlPlaneSecurityGroupIDs",
              "controlPlaneOnPrivateSubnets", "autoAllocateIPv6"},
             warnings);
  return Status::ok();
}

Status readZones(const json* v, const ParseOptions& opts, ClusterConfig* c) {
  if (v) {
    if (!v->is_array()) return fieldError("availabilityZones", "must be a list of zones");
    std::set<std::string> seen;
    for (size_t i = 0; i < v->size(); ++i) {
      std::string p = "availabilityZones[" + std::to_string(i) + "]";
      if (!(*v)[i].is_string() || (*v)[i].get<std::string>().empty()) return fieldError(p, "must be a zone name");
      std::string z = (*v)[i].get<std::string>();
      if (!seen.insert(z).second) return fieldError(p, "duplicate zone " + q(z));
      c->zones.push_back(z);
    }
    if (c->zones.size() < 2) {
      return fieldError("availabilityZones", "at least 2 zones are required (as in EKS)");
    }
    return Status::ok();
  }
  // As eksctl: the zones of given subnets, else the region's first three.
  std::set<std::string> from_subnets;
  for (const auto* m : {&c->vpc.public_subnets, &c->vpc.private_subnets}) {
    for (const auto& [z, cidr] : *m) from_subnets.insert(z);
  }
  if (!from_subnets.empty()) {
    c->zones.assign(from_subnets.begin(), from_subnets.end());
  } else {
    for (const char* s : {"a", "b", "c"}) c->zones.push_back(c->region + s);
  }
  (void)opts;
  return Status::ok();
}

Status readFargateProfile(const json& v, const std::string& path, FargateProfileConfig* p,
                          std::vector<std::string>* warnings) {
  BERTH_RETURN_IF_ERROR(needObject(v, path));
  Fields f(v, path);
  BERTH_RETURN_IF_ERROR(readString(f, "name", &p->name));
  if (p->name.empty()) return fieldError(f.at("name"), "required");
  if (!isDnsLabel(p->name, 63)) {
    return fieldError(f.at("name"), "invalid name " + q(p->name) +
                                        ": lower case alphanumerics and '-', at most 63 characters");
  }
  const json* sels = f.take("selectors");
  if (!sels || !sels->is_array() || sels->empty()) {
    return fieldError(f.at("selectors"), "required: a list of 1 to 5 {namespace, labels}");
  }
  if (sels->size() > 5) return fieldError(f.at("selectors"), "at most 5 selectors");
  for (size_t i = 0; i < sels->size(); ++i) {
    std::string sp = f.at("selectors") + "[" + std::to_string(i) + "]";
    BERTH_RETURN_IF_ERROR(needObject((*sels)[i], sp));
    Fields sf((*sels)[i], sp);
    FargateSelector s;
    BERTH_RETURN_IF_ERROR(readString(sf, "namespace", &s.namespace_));
    if (s.namespace_.empty()) return fieldError(sf.at("namespace"), "required");
    BERTH_RETURN_IF_ERROR(readStringMap(sf, "labels", &s.labels));
    if (s.labels.size() > 5) return fieldError(sf.at("labels"), "at most 5 labels");
    BERTH_RETURN_IF_ERROR(checkLabels(s.labels, sf.at("labels")));
    sf.warnRest({}, warnings);
    p->selectors.push_back(std::move(s));
  }
  BERTH_RETURN_IF_ERROR(readStringList(f, "subnets", &p->subnets));
  BERTH_RETURN_IF_ERROR(readString(f, "podExecutionRoleARN", &p->pod_execution_role_arn));
  BERTH_RETURN_IF_ERROR(readStringMap(f, "tags", &p->tags));
  f.warnRest({"status"}, warnings);
  return Status::ok();
}

Status readGroups(const json* v, const std::string& key, bool managed, ClusterConfig* c,
                  std::vector<std::string>* warnings) {
  if (!v) return Status::ok();
  if (!v->is_array()) return fieldError(key, "must be a list of node groups");
  for (size_t i = 0; i < v->size(); ++i) {
    std::string path = key + "[" + std::to_string(i) + "]";
    NodeGroupConfig g;
    BERTH_RETURN_IF_ERROR(readGroup((*v)[i], path, managed, c->zones, &g, warnings));
    for (const auto& other : c->node_groups) {
      if (other.name == g.name) {
        return fieldError(path + ".name", "duplicate node group name " + q(g.name));
      }
    }
    c->node_groups.push_back(std::move(g));
  }
  return Status::ok();
}

}  // namespace

Result<ParsedClusterConfig> parseClusterConfig(std::string_view text, const ParseOptions& opts) {
  BERTH_ASSIGN_OR_RETURN(json doc, apiserver::schema::yamlToJson(text));
  if (!doc.is_object()) return invalid("the file is not a ClusterConfig (want a YAML mapping)");
  ParsedClusterConfig out;
  ClusterConfig& c = out.config;
  std::vector<std::string>& w = out.warnings;
  Fields f(doc, "");
  std::string api_version, kind;
  BERTH_RETURN_IF_ERROR(readString(f, "apiVersion", &api_version));
  BERTH_RETURN_IF_ERROR(readString(f, "kind", &kind));
  if (api_version != "eksctl.io/v1alpha5") {
    return fieldError("apiVersion", "want eksctl.io/v1alpha5, got " + q(api_version));
  }
  if (kind != "ClusterConfig") return fieldError("kind", "want ClusterConfig, got " + q(kind));
  BERTH_RETURN_IF_ERROR(readMetadata(f.take("metadata"), opts, &c, &w));
  BERTH_RETURN_IF_ERROR(readVpc(f.take("vpc"), &c, &w));
  BERTH_RETURN_IF_ERROR(readZones(f.take("availabilityZones"), opts, &c));
  BERTH_RETURN_IF_ERROR(readGroups(f.take("managedNodeGroups"), "managedNodeGroups", true, &c, &w));
  BERTH_RETURN_IF_ERROR(readGroups(f.take("nodeGroups"), "nodeGroups", false, &c, &w));
  if (const json* fp = f.take("fargateProfiles")) {
    if (!fp->is_array()) return fieldError("fargateProfiles", "must be a list of profiles");
    for (size_t i = 0; i < fp->size(); ++i) {
      std::string path = "fargateProfiles[" + std::to_string(i) + "]";
      FargateProfileConfig p;
      BERTH_RETURN_IF_ERROR(readFargateProfile((*fp)[i], path, &p, &w));
      for (const auto& other : c.fargate_profiles) {
        if (other.name == p.name) return fieldError(path + ".name", "duplicate profile name " + q(p.name));
      }
      c.fargate_profiles.push_back(std::move(p));
    }
  }
  f.warnRest(kEksctlTopLevel, &w);
  return out;
}

namespace {

json stringMap(const std::map<std::string, std::string>& m) {
  json o = json::object();
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

}  // namespace

json toNodeGroupObject(const ClusterConfig& cluster, const NodeGroupConfig& g) {
  json spec = {{"type", g.managed ? "managed" : "self-managed"},
               {"capacityType", g.spot ? "SPOT" : "ON_DEMAND"},
               {"instanceTypes", g.instance_types},
               {"scaling", {{"minSize", g.min}, {"maxSize", g.max}, {"desiredSize", g.desired}}},
               {"zones", g.zones},
               {"privateNetworking", g.private_networking},
               {"version", cluster.version},
               {"amiFamily", g.ami_family},
               {"diskSize", g.volume_size}};
  if (!g.labels.empty()) spec["labels"] = stringMap(g.labels);
  if (!g.taints.empty()) {
    json taints = json::array();
    for (const Taint& t : g.taints) {
      json tj = {{"key", t.key}, {"effect", t.effect}};
      if (!t.value.empty()) tj["value"] = t.value;
      taints.push_back(tj);
    }
    spec["taints"] = taints;
  }
  if (g.max_unavailable) spec["updateConfig"] = {{"maxUnavailable", *g.max_unavailable}};
  if (g.max_unavailable_percentage) {
    spec["updateConfig"] = {{"maxUnavailable", std::to_string(*g.max_unavailable_percentage) + "%"}};
  }
  if (g.max_pods_per_node > 0) spec["maxPods"] = g.max_pods_per_node;
  if (!g.pre_bootstrap_commands.empty()) spec["preBootstrapCommands"] = g.pre_bootstrap_commands;
  if (g.instances_distribution) {
    const InstancesDistribution& d = *g.instances_distribution;
    json dj = {{"instanceTypes", d.instance_types},
               {"onDemandBaseCapacity", d.on_demand_base_capacity},
               {"onDemandPercentageAboveBaseCapacity", d.on_demand_percentage_above_base_capacity},
               {"capacityRebalance", d.capacity_rebalance}};
    if (d.spot_allocation_strategy.empty() || d.spot_allocation_strategy == "lowest-price") {
      dj["spotInstancePools"] = d.spot_instance_pools;
    }
    if (d.max_price) dj["maxPrice"] = *d.max_price;
    if (!d.spot_allocation_strategy.empty()) dj["spotAllocationStrategy"] = d.spot_allocation_strategy;
    spec["instancesDistribution"] = dj;
  }
  return {{"apiVersion", "berth.dev/v1alpha1"},
          {"kind", "NodeGroup"},
          {"metadata", {{"name", g.name}, {"labels", {{"berth.dev/cluster", cluster.name}}}}},
          {"spec", spec}};
}

json toFargateProfileObject(const ClusterConfig& cluster, const FargateProfileConfig& p) {
  json sels = json::array();
  for (const FargateSelector& s : p.selectors) {
    json sj = {{"namespace", s.namespace_}};
    if (!s.labels.empty()) sj["labels"] = stringMap(s.labels);
    sels.push_back(sj);
  }
  json spec = {{"selectors", sels}};
  if (!p.subnets.empty()) spec["subnets"] = p.subnets;
  if (!p.pod_execution_role_arn.empty()) spec["podExecutionRoleARN"] = p.pod_execution_role_arn;
  return {{"apiVersion", "berth.dev/v1alpha1"},
          {"kind", "FargateProfile"},
          {"metadata", {{"name", p.name}, {"labels", {{"berth.dev/cluster", cluster.name}}}}},
          {"spec", spec}};
}

namespace {

void emit(YAML::Emitter& out, const json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      emit(out, *it);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const json& e : v) emit(out, e);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    out << YAML::DoubleQuoted << v.get<std::string>();
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();
  }
}

json groupJson(const NodeGroupConfig& g) {
  json j = {{"name", g.name},
            {"desiredCapacity", g.desired},
            {"minSize", g.min},
            {"maxSize", g.max},
            {"availabilityZones", g.zones},
            {"privateNetworking", g.private_networking},
            {"volumeSize", g.volume_size},
            {"amiFamily", g.ami_family}};
  if (g.managed) {
    j["instanceTypes"] = g.instance_types;
    j["spot"] = g.spot;
  } else if (!g.instances_distribution) {
    j["instanceType"] = g.instance_types.front();
  }
  if (!g.labels.empty()) j["labels"] = stringMap(g.labels);
  if (!g.taints.empty()) {
    json ts = json::array();
    for (const Taint& t : g.taints) ts.push_back({{"key", t.key}, {"value", t.value}, {"effect", t.effect}});
    j["taints"] = ts;
  }
  if (g.max_unavailable) j["updateConfig"] = {{"maxUnavailable", *g.max_unavailable}};
  if (g.max_unavailable_percentage) {
    j["updateConfig"] = {{"maxUnavailablePercentage", *g.max_unavailable_percentage}};
  }
  if (g.max_pods_per_node) j["maxPodsPerNode"] = g.max_pods_per_node;
  if (!g.pre_bootstrap_commands.empty()) j["preBootstrapCommands"] = g.pre_bootstrap_commands;
  if (!g.tags.empty()) j["tags"] = stringMap(g.tags);
  if (g.instances_distribution) {
    const InstancesDistribution& d = *g.instances_distribution;
    j["instanceType"] = "mixed";
    j["instancesDistribution"] = {
        {"instanceTypes", d.instance_types},
        {"onDemandBaseCapacity", d.on_demand_base_capacity},
        {"onDemandPercentageAboveBaseCapacity", d.on_demand_percentage_above_base_capacity},
        {"capacityRebalance", d.capacity_rebalance}};
    if (d.spot_allocation_strategy.empty() || d.spot_allocation_strategy == "lowest-price") {
      j["instancesDistribution"]["spotInstancePools"] = d.spot_instance_pools;
    }
    if (!d.spot_allocation_strategy.empty()) {
      j["instancesDistribution"]["spotAllocationStrategy"] = d.spot_allocation_strategy;
    }
    if (d.max_price) j["instancesDistribution"]["maxPrice"] = *d.max_price;
  }
  return j;
}

}  // namespace

std::string toYaml(const ClusterConfig& c) {
  json doc = {{"apiVersion", "eksctl.io/v1alpha5"}, {"kind", "ClusterConfig"}};
  doc["metadata"] = {{"name", c.name}, {"region", c.region}, {"version", c.version}};
  if (!c.tags.empty()) doc["metadata"]["tags"] = stringMap(c.tags);
  doc["availabilityZones"] = c.zones;
  json vpc = {{"cidr", c.vpc.cidr.empty() ? "192.168.0.0/16" : c.vpc.cidr},
              {"nat", {{"gateway", c.vpc.nat_gateway.empty() ? "Single" : c.vpc.nat_gateway}}},
              {"clusterEndpoints",
               {{"publicAccess", c.endpoint_public_access},
                {"privateAccess", c.endpoint_private_access}}}};
  for (const auto& [kind, m] : {std::pair{"public", &c.vpc.public_subnets},
                                std::pair{"private", &c.vpc.private_subnets}}) {
    for (const auto& [zone, cidr] : *m) vpc["subnets"][kind][zone] = {{"cidr", cidr}};
  }
  doc["vpc"] = vpc;
  json managed = json::array(), self = json::array();
  for (const auto& g : c.node_groups) (g.managed ? managed : self).push_back(groupJson(g));
  if (!managed.empty()) doc["managedNodeGroups"] = managed;
  if (!self.empty()) doc["nodeGroups"] = self;
  if (!c.fargate_profiles.empty()) {
    json fps = json::array();
    for (const auto& p : c.fargate_profiles) {
      json pj = toFargateProfileObject(c, p)["spec"];
      pj["name"] = p.name;
      fps.push_back(pj);
    }
    doc["fargateProfiles"] = fps;
  }
  YAML::Emitter out;
  emit(out, doc);
  return std::string(out.c_str()) + "\n";
}

}  // namespace berth::nodegroups::config
