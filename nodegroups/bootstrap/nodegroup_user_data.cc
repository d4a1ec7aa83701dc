#include "nodegroups/bootstrap/nodegroup_user_data.h"

namespace berth::nodegroups::bootstrap {

Result<UserDataParams> nodeGroupUserDataParams(const json& ng, const std::string& capacity_type) {
  const json empty = json::object();
  const json& meta = ng.contains("metadata") && ng["metadata"].is_object() ? ng["metadata"] : empty;
  const json& spec = ng.contains("spec") && ng["spec"].is_object() ? ng["spec"] : empty;
  std::string name = meta.value("name", "");
  if (name.empty()) return invalid("NodeGroup has no metadata.name");
  UserDataParams p;
  if (spec.contains("labels") && spec["labels"].is_object())
    for (auto it = spec["labels"].begin(); it != spec["labels"].end(); ++it)
      if (it.value().is_string()) p.labels[it.key()] = it.value();
  std::string cap = capacity_type.empty() ? spec.value("capacityType", "ON_DEMAND") : capacity_type;
  if (cap != "ON_DEMAND" && cap != "SPOT") return invalid("capacity type must be ON_DEMAND or SPOT, got \"" + cap + "\"");
  p.labels["eks.amazonaws.com/nodegroup"] = name;
  p.labels["eks.amazonaws.com/capacityType"] = cap;
  p.labels["karpenter.sh/capacity-type"] = cap == "SPOT" ? "spot" : "on-demand";
  if (spec.contains("taints") && spec["taints"].is_array()) {
    for (size_t i = 0; i < spec["taints"].size(); ++i) {
      const json& t = spec["taints"][i];
      if (!t.is_object() || !t.contains("key") || !t.contains("effect"))
        return invalid("spec.taints[" + std::to_string(i) + "] needs key and effect");
      p.taints.push_back({t.value("key", ""), t.value("value", ""), t.value("effect", "")});
    }
  }
  if (spec.contains("maxPods") && spec["maxPods"].is_number_integer()) p.max_pods = spec["maxPods"].get<int32_t>();
  if (spec.contains("preBootstrapCommands") && spec["preBootstrapCommands"].is_array())
    for (const auto& c : spec["preBootstrapCommands"])
      if (c.is_string()) p.pre_bootstrap_commands.push_back(c);
  if (spec.contains("userData") && spec["userData"].is_string()) p.user_data = spec["userData"];
  return p;
}

}  // namespace berth::nodegroups::bootstrap
