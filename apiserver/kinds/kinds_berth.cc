// berth.dev/v1alpha1 kinds: NodeGroup and FargateProfile, both cluster-scoped (a node group,
// like a Node, belongs to the cluster, not to a namespace).
//
// NodeGroup:
//   spec:
//     type: managed | self-managed                 (default managed)
//     capacityType: ON_DEMAND | SPOT                (default ON_DEMAND)
//     instanceTypes: [m5.large, ...]                (default [m5.large]; each one of the
//                                                    catalogue, nodegroups/catalogue)
//     amiFamily: AmazonLinux2023 | AmazonLinux2 | Bottlerocket | Ubuntu2204 | Ubuntu2404
//                                                   (default AmazonLinux2023)
//     scaling: {minSize, maxSize, desiredSize}      (defaults desiredSize 2, minSize 0,
//                                                    maxSize = max(desiredSize, minSize))
//     updateConfig: {maxUnavailable | maxUnavailablePercentage}  (default maxUnavailable 1)
//     availabilityZones: [..], subnets: [..], privateNetworking: bool,
//     labels: {k: v}, taints: [{key, value, effect}], volumeSize: GiB
//     maxPods, preBootstrapCommands: [..], userData (a shell script, NodeConfig or MIME
//       multipart of those, checked by bootstrap::parseUserDataTemplate),
//     instancesDistribution: {instanceTypes,
//       onDemandBaseCapacity, onDemandPercentageAboveBaseCapacity, spotAllocationStrategy, ...}
//   status: {observedGeneration, replicas, readyReplicas, phase, conditions, selector}
//   The scale subresource reads spec.scaling.desiredSize and status.replicas; its selector is
//   "eks.amazonaws.com/nodegroup=<name>" (the label every node of the group carries).
//
// FargateProfile:
//   spec: {selectors: [{namespace, labels: {k: v}}] (1..5), subnets: [..],
//          podExecutionRoleARN}; selectors and subnets are immutable, as in EKS.
//   status: {phase, conditions}
#include <algorithm>

#include <nlohmann/json.hpp>

#include "apiserver/kinds/kind_util.h"
#include "common/strings.h"
#include "nodegroups/bootstrap/user_data.h"
#include "nodegroups/catalogue/catalogue.h"

namespace berth::apiserver::kinds {

namespace {

const std::vector<std::string> kAmiFamilies = {"AmazonLinux2", "AmazonLinux2023", "Bottlerocket",
                                               "Ubuntu2204", "Ubuntu2404"};

// Each entry must name a type of the instance-type catalogue; an unknown one is refused with
// the nearest valid names.
void checkInstanceTypes(const json& types, const std::string& path, Errors& errs) {
  for (size_t i = 0; i < types.size(); ++i) {
    const json& t = types[i];
    if (!t.is_string() || t.get<std::string>().empty()) {
      errs.required(path + "[" + std::to_string(i) + "]");
    } else if (!nodegroups::findInstanceType(t.get<std::string>())) {
      errs.invalid(path + "[" + std::to_string(i) + "]", t,
                   "unknown instance type (nearest: " +
                       join(nodegroups::nearbyInstanceTypes(t.get<std::string>()), ", ") + ")");
    }
  }
}

KindSpec nodeGroupKind() {
  // Not in the "all" category: that is namespaced workloads, and `kubectl delete all --all -n X`
  // must not reach cluster-scoped node groups.
  KindSpec k = berthKind("NodeGroup", "nodegroups", "nodegroup");
  k.short_names = {"ng"};
  k.has_scale = true;
  k.scale_spec_replicas = "/spec/scaling/desiredSize";
  k.scale_status_replicas = "/status/replicas";
  // Like a custom resource's labelSelectorPath: a selector string kept in status.selector
  // (written by defaults), so generic code that reads scale_label_selector works too.
  k.scale_label_selector = "/status/selector";
  k.scale_selector = [](const json& obj) {
    return "eks.amazonaws.com/nodegroup=" + str(obj, {"metadata", "name"});
  };
  k.defaults = [](json& obj) {
    std::string name = str(obj, {"metadata", "name"});
    if (!name.empty()) {
      setDefault(child(obj, "status"), "selector", "eks.amazonaws.com/nodegroup=" + name);
    }
    json& spec = child(obj, "spec");
    setDefault(spec, "type", "managed");
    setDefault(spec, "capacityType", "ON_DEMAND");
    if (count(spec, {"instanceTypes"}) == 0) spec["instanceTypes"] = json::array({"m5.large"});
    setDefault(spec, "amiFamily", "AmazonLinux2023");
    json& scaling = child(spec, "scaling");
    setDefault(scaling, "desiredSize", 2);
    setDefault(scaling, "minSize", 0);
    int64_t desired = num(scaling, {"desiredSize"});
    int64_t minSize = num(scaling, {"minSize"});
    setDefault(scaling, "maxSize", std::max(desired, minSize));
    json& update = child(spec, "updateConfig");
    if (!update.contains("maxUnavailablePercentage")) setDefault(update, "maxUnavailable", 1);
  };
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json empty = json::object();
    const json* specp = find(obj, {"spec"});
    const json& spec = specp && specp->is_object() ? *specp : empty;
    std::string type = str(spec, {"type"});
    if (type != "managed" && type != "self-managed") {
      errs.notSupported("spec.type", type, {"managed", "self-managed"});
    }
    std::string ct = str(spec, {"capacityType"});
    if (ct != "ON_DEMAND" && ct != "SPOT") errs.notSupported("spec.capacityType", ct, {"ON_DEMAND", "SPOT"});
    std::string ami = str(spec, {"amiFamily"});
    if (std::find(kAmiFamilies.begin(), kAmiFamilies.end(), ami) == kAmiFamilies.end()) {
      errs.notSupported("spec.amiFamily", ami, kAmiFamilies);
    }
    const json* its = find(spec, {"instanceTypes"});
    if (!its || !its->is_array() || its->empty()) {
      errs.required("spec.instanceTypes");
    } else {
      checkInstanceTypes(*its, "spec.instanceTypes", errs);
    }
    if (const json* dts = find(spec, {"instancesDistribution", "instanceTypes"}); dts && dts->is_array()) {
      checkInstanceTypes(*dts, "spec.instancesDistribution.instanceTypes", errs);
    }
    if (const json* ud = find(spec, {"userData"}); ud && !ud->is_null()) {
      if (!ud->is_string()) {
        errs.invalid("spec.userData", *ud, "must be a string");
      } else if (auto parts = nodegroups::bootstrap::parseUserDataTemplate(ud->get<std::string>());
                 !parts.isOk()) {
        errs.invalidText("spec.userData", "(" + std::to_string(ud->get<std::string>().size()) + " bytes)",
                     parts.status().message());
      }
    }
    if (const json* pre = find(spec, {"preBootstrapCommands"}); pre && !pre->is_null()) {
      for (size_t i = 0; pre->is_array() && i < pre->size(); ++i) {
        if (!(*pre)[i].is_string()) errs.invalid(at("spec", "preBootstrapCommands", i), (*pre)[i], "must be a string");
      }
    }
    const json* minS = find(spec, {"scaling", "minSize"});
    const json* maxS = find(spec, {"scaling", "maxSize"});
    const json* des = find(spec, {"scaling", "desiredSize"});
    errs.nonNegative("spec.scaling.minSize", minS);
    errs.nonNegative("spec.scaling.desiredSize", des);
    if (isInt(maxS) && maxS->get<int64_t>() < 1) {
      errs.invalid("spec.scaling.maxSize", *maxS, "must be greater than or equal to 1");
    }
    if (isInt(des) && isInt(maxS) && des->get<int64_t>() > maxS->get<int64_t>()) {
      errs.invalid("spec.scaling.desiredSize", *des,
                   "must be less than or equal to maxSize (" + maxS->dump() + ")");
    }
    if (isInt(des) && isInt(minS) && des->get<int64_t>() < minS->get<int64_t>()) {
      errs.invalid("spec.scaling.desiredSize", *des,
                   "must be greater than or equal to minSize (" + minS->dump() + ")");
    }
    const json* mu = find(spec, {"updateConfig", "maxUnavailable"});
    const json* mup = find(spec, {"updateConfig", "maxUnavailablePercentage"});
    if (mu && !mu->is_null() && mup && !mup->is_null()) {
      errs.forbidden("spec.updateConfig",
                     "maxUnavailable and maxUnavailablePercentage cannot be both set");
    }
    if (mu && !mu->is_null() && (!isInt(mu) || mu->get<int64_t>() < 1)) {
      errs.invalid("spec.updateConfig.maxUnavailable", *mu, "must be greater than or equal to 1");
    }
    if (mup && !mup->is_null() &&
        (!isInt(mup) || mup->get<int64_t>() < 1 || mup->get<int64_t>() > 100)) {
      errs.invalid("spec.updateConfig.maxUnavailablePercentage", *mup,
                   "must be between 1 and 100, inclusive");
    }
    if (const json* taints = find(spec, {"taints"}); taints && taints->is_array()) {
      for (size_t i = 0; i < taints->size(); ++i) {
        std::string tp = at("spec", "taints", i);
        if (str((*taints)[i], {"key"}).empty()) errs.required(at(tp, "key"));
        std::string effect = str((*taints)[i], {"effect"});
        if (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute") {
          errs.notSupported(at(tp, "effect"), effect, {"NoExecute", "NoSchedule", "PreferNoSchedule"});
        }
      }
    }
    if (old) {
      if (str(*old, {"spec", "type"}) != type) errs.immutable("spec.type", type);
      if (str(*old, {"spec", "capacityType"}) != ct) errs.immutable("spec.capacityType", ct);
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Type", "string", "managed or self-managed."),
               column("Capacity-Type", "string", "ON_DEMAND or SPOT."),
               column("Instance-Types", "string", "Instance types the group launches."),
               column("Desired", "integer", "Desired number of nodes."),
               column("Min", "integer", "Minimum number of nodes."),
               column("Max", "integer", "Maximum number of nodes."),
               column("Ready", "string", "Ready nodes out of the desired number."),
               column("Status", "string", "Lifecycle phase of the node group."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<std::string> types;
    if (const json* its = find(obj, {"spec", "instanceTypes"}); its && its->is_array()) {
      for (const json& t : *its) {
        if (t.is_string()) types.push_back(t.get<std::string>());
      }
    }
    std::string typesStr = types.empty() ? "<none>" : join(types, ",");
    int64_t desired = num(obj, {"spec", "scaling", "desiredSize"});
    std::string phase = str(obj, {"status", "phase"});
    if (phase.empty()) phase = "<unknown>";
    return std::vector<json>{str(obj, {"metadata", "name"}), str(obj, {"spec", "type"}),
                             str(obj, {"spec", "capacityType"}), typesStr, desired,
                             num(obj, {"spec", "scaling", "minSize"}),
                             num(obj, {"spec", "scaling", "maxSize"}),
                             std::to_string(num(obj, {"status", "readyReplicas"})) + "/" +
                                 std::to_string(desired),
                             phase, ageCell(obj, now)};
  };
  k.selectable_fields = {"spec.type", "spec.capacityType", "status.phase"};
  k.field_value = [](const json& obj, const std::string& f) -> std::string {
    if (f == "spec.type") return str(obj, {"spec", "type"});
    if (f == "spec.capacityType") return str(obj, {"spec", "capacityType"});
    if (f == "status.phase") return str(obj, {"status", "phase"});
    return "";
  };
  return k;
}

KindSpec fargateProfileKind() {
  KindSpec k = berthKind("FargateProfile", "fargateprofiles", "fargateprofile");
  k.short_names = {"fp"};
  k.validate = [](const json& obj, const json* old) {
    Errors errs;
    const json* sels = find(obj, {"spec", "selectors"});
    if (!sels || !sels->is_array() || sels->empty()) {
      errs.required("spec.selectors");
    } else {
      if (sels->size() > 5) errs.tooLong("spec.selectors", "must have at most 5 items");
      for (size_t i = 0; i < sels->size(); ++i) {
        std::string sp = at("spec", "selectors", i);
        if (str((*sels)[i], {"namespace"}).empty()) errs.required(at(sp, "namespace"));
        if (count((*sels)[i], {"labels"}) > 5) errs.tooLong(at(sp, "labels"), "must have at most 5 items");
      }
    }
    if (old) {
      for (const char* f : {"selectors", "subnets", "podExecutionRoleARN"}) {
        const json* a = find(obj, {"spec", f});
        const json* b = find(*old, {"spec", f});
        json na = a ? *a : json();
        json nb = b ? *b : json();
        if (na != nb) errs.immutable(at("spec", f), na);
      }
    }
    return errs.take();
  };
  k.columns = {nameColumn(),
               column("Selectors", "string", "Namespaces (and labels) whose pods run on Fargate."),
               column("Status", "string", "Lifecycle phase of the profile."),
               ageColumn()};
  k.cells = [](const json& obj, TimePoint now) {
    std::vector<std::string> parts;
    if (const json* sels = find(obj, {"spec", "selectors"}); sels && sels->is_array()) {
      for (const json& s : *sels) {
        std::string p = str(s, {"namespace"});
        if (count(s, {"labels"}) > 0) p += "(" + formatLabels(find(s, {"labels"})) + ")";
        parts.push_back(p);
      }
    }
    std::string phase = str(obj, {"status", "phase"});
    if (phase.empty()) phase = "<unknown>";
    return std::vector<json>{str(obj, {"metadata", "name"}),
                             parts.empty() ? std::string("<none>") : join(parts, ","), phase,
                             ageCell(obj, now)};
  };
  return k;
}

}  // namespace

void registerBerthKinds(KindRegistry& reg) {
  reg.add(nodeGroupKind());
  reg.add(fargateProfileKind());
}

}  // namespace berth::apiserver::kinds
